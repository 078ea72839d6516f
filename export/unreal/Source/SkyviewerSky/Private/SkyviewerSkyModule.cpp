// Maps the plugin's Shaders/ folder to the virtual path /SkyviewerSky, so that a material Custom
// node can include "/SkyviewerSky/SkyviewerSky.ush". Needs LoadingPhase PostConfigInit (.uplugin).
#include "Interfaces/IPluginManager.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"
#include "ShaderCore.h"

class FSkyviewerSkyModule : public IModuleInterface
{
public:
	virtual void StartupModule() override
	{
		const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("SkyviewerSky"));
		if (Plugin.IsValid())
		{
			AddShaderSourceDirectoryMapping(TEXT("/SkyviewerSky"), FPaths::Combine(Plugin->GetBaseDir(), TEXT("Shaders")));
		}
	}
};

IMPLEMENT_MODULE(FSkyviewerSkyModule, SkyviewerSky)
