// USkyviewerSkyComponent: plays a skyviewer sky package (sky.json + start.onnx + step.onnx) with
// NNE (UE 5.4+) and feeds the frames to a sky-sphere material built on SkyviewerSky.ush.
// Written against the documented NNE / Engine APIs and NOT compiled here: see README.md.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"
#include "Async/Future.h"
#include "SkyviewerSkyComponent.generated.h"

class UMaterialInstanceDynamic;
class UMaterialInterface;
class UTexture2D;
class UNNEModelData;
class UDirectionalLightComponent;
class FJsonObject;

// NNE is a private dependency (Build.cs), so this public header only forward-declares its types;
// the .cpp includes NNERuntimeCPU.h. (TSharedPtr members are fine with incomplete types.)
namespace UE::NNE
{
	class IModelCPU;
	class IModelInstanceCPU;
}

namespace Skyviewer
{
	// The package contract (skyviewer/train/onnx_export.py, skyviewer/export/package.py), checked
	// against each manifest at load; tests/test_engine_samples.py checks these lists against the exporter.
	inline constexpr const TCHAR* StartInputs[] = {TEXT("z"), TEXT("sun_dir"), TEXT("cloud_cover")};
	inline constexpr const TCHAR* StartOutputs[] = {TEXT("sky"), TEXT("field")};
	inline constexpr const TCHAR* StepInputs[] = {TEXT("field"), TEXT("motion"), TEXT("noise"), TEXT("sun_dir_next"), TEXT("cloud_cover")};
	inline constexpr const TCHAR* StepOutputs[] = {TEXT("next_frame"), TEXT("next_field"), TEXT("next_motion")};
}

UENUM(BlueprintType)
enum class ESkyviewerSunSource : uint8
{
	ManifestDefault,  // the package's default sun_dir, fixed
	SolarPath,        // a simple solar path at LatitudeDeg on DayOfYear, clock from StartHour
	DirectionalLight  // follow SunLight (the sun is at -forward)
};

UCLASS(ClassGroup = (Rendering), meta = (BlueprintSpawnableComponent))
class SKYVIEWERSKY_API USkyviewerSkyComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	USkyviewerSkyComponent();

	/** Folder of the sky package (sky.json, start.onnx, step.onnx), absolute or relative to the project's Content/. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	FDirectoryPath PackageDir;

	/** Optional: imported start.onnx / step.onnx assets (cooked with the game) instead of the files in PackageDir. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> StartModelData;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> StepModelData;

	/** NNE CPU runtime (ONNX Runtime on the CPU). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	FString RuntimeName = TEXT("NNERuntimeORTCpu");

	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	int32 Seed = 1;

	/** Sky seconds per game second; one model step covers the manifest's step_seconds of sky time. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Time")
	float TimeMultiplier = 60.f;

	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	ESkyviewerSunSource SunSource = ESkyviewerSunSource::SolarPath;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	float LatitudeDeg = 46.8f;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	int32 DayOfYear = 172;
	/** Local solar time of the first frame, hours. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	float StartHour = 9.f;
	/** Fraction of the sky covered by cloud; negative = the manifest's default. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	float CloudCover = -1.f;
	/** Driven by the sky's sun (SolarPath / ManifestDefault) or read (DirectionalLight). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	TObjectPtr<UDirectionalLightComponent> SunLight;

	/** Material using SkyviewerSky.ush (README.md), applied to the owner's first static mesh (a sky sphere). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	TObjectPtr<UMaterialInterface> SkyMaterial;
	/** Luminance (nits) that lands on middle grey. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	float KeyNits = 4000.f;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	float ExposureStops = 1.5f;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	FLinearColor GroundAlbedo = FLinearColor(0.3f, 0.3f, 0.3f);
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	float HazeDepthDeg = 8.f;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	float SunFadeStops = 1.f;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	bool bDither = true;
	/** Emit linear radiance (nits x RadianceScale) for Unreal's exposure instead of the viewer's ACES display. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	bool bOutputRadiance = false;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Display")
	float RadianceScale = 1.f;

	/** Draw a new start sky; the recurrent state starts fresh. */
	UFUNCTION(BlueprintCallable, Category = "Skyviewer")
	bool ResetSky(int32 NewSeed);

	/** Unit vector to the sun, Unreal axes (+X north, +Y east, +Z up), now. */
	UFUNCTION(BlueprintPure, Category = "Skyviewer")
	FVector GetSunDirection() const;

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	struct FTensorSpec
	{
		FString Name;
		TArray<uint32> Shape;
		FString Role;       // latent | noise | condition | frame | state
		FString Condition;  // role == condition
		FString At;         // role == condition: current | next
		int32 Count() const;
	};
	struct FModelSpec
	{
		FString File;
		TArray<FTensorSpec> Inputs, Outputs;
		TArray<TPair<FString, FString>> Recurrence;  // step input <- output of the previous step
		TMap<FString, TSharedPtr<class FJsonValue>> Initial;  // input -> number or "start:OUTPUT"
	};
	struct FStepResult
	{
		bool bOk = false;
		TMap<FString, TArray<float>> Outputs;
	};

	bool LoadPackage();
	bool ParseModel(const TSharedPtr<FJsonObject>& Json, FModelSpec& Out) const;
	TSharedPtr<UE::NNE::IModelInstanceCPU> CreateInstance(UNNEModelData* Asset, const FString& File) const;
	static bool RunModel(UE::NNE::IModelInstanceCPU& Instance, const FModelSpec& Spec, const TMap<FString, TArray<float>>& Inputs, TMap<FString, TArray<float>>& Outputs);
	static FString FrameOutput(const FModelSpec& Spec);
	TMap<FString, TArray<float>> HostInputs(const FModelSpec& Spec, const TMap<FString, TArray<float>>& CondNow, const TMap<FString, TArray<float>>& CondNext);
	void LaunchStep();
	void FinishStep(FStepResult&& Result);
	void UploadFrame(const TArray<float>& Encoded, UTexture2D* Target) const;
	void SetConditions(TMap<FString, TArray<float>>& Into, double SkySeconds) const;
	FVector SunDirectionSky(double SkySeconds) const;
	void UpdateMaterial();
	UTexture2D* MakeTexture() const;
	float Gaussian();

	FModelSpec StartSpec, StepSpec;
	TSharedPtr<UE::NNE::IModelCPU> StartModel, StepModel;
	TSharedPtr<UE::NNE::IModelInstanceCPU> StartInstance, StepInstance;
	float StepSeconds = 60.f;
	float EncodingEps = 1e-4f, EncodingXMax = 65504.f;
	float SunRadiusDeg = 0.2666f, SunLuminanceNits = 1.6e9f, SunLimbU = 0.6f;
	int32 Resolution = 0;
	TArray<TPair<FString, TArray<float>>> ConditionDefaults;

	TMap<FString, TArray<float>> Now, Next;        // conditions of the displayed pair: previous / newest frame
	TMap<FString, TArray<float>> Recurrent;        // step inputs fed back (field, motion), host memory
	TFuture<FStepResult> Pending;
	bool bPending = false;
	TMap<FString, TArray<float>> PendingNext;      // conditions of the frame the pending step makes

	UPROPERTY(Transient)
	TObjectPtr<UTexture2D> SkyPrev;
	UPROPERTY(Transient)
	TObjectPtr<UTexture2D> SkyNext;
	UPROPERTY(Transient)
	TObjectPtr<UMaterialInstanceDynamic> Material;

	double SkySeconds = 0.0;   // sky time of the newest frame (SkyNext)
	double SinceStep = 0.0;    // sky seconds since the newest frame
	int32 FrameIndex = 0;
	FRandomStream Random;
};
