// Module rules for the SkyviewerSky runtime module (UE 5.4+).
using UnrealBuildTool;

public class SkyviewerSky : ModuleRules
{
	public SkyviewerSky(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"NNE",         // UE::NNE::GetRuntime, INNERuntimeCPU, UNNEModelData (engine module, UE 5.4+)
			"RenderCore",  // AddShaderSourceDirectoryMapping for /SkyviewerSky
			"Projects",    // IPluginManager, to find the plugin's Shaders/ folder
			"Json",        // sky.json
		});
	}
}
