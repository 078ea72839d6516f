// USkyviewerSkyComponent: plays a skyviewer sky package (sky.json, start.onnx, step.onnx and, format 3,
// decode.onnx / decode_N.onnx) with NNE (UE 5.5+) and feeds the frames to a sky-sphere material built
// on SkyviewerSky.ush.
// Written against the documented NNE / Engine APIs and NOT compiled here: see README.md.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"
#include "Async/Future.h"
#include "Math/Float16Color.h"
#include "Templates/Function.h"
#include "SkyviewerSkyComponent.generated.h"

class UMaterialInstanceDynamic;
class UMaterialInterface;
class UTexture2D;
class UNNEModelData;
class UDirectionalLightComponent;
class USkyLightComponent;
class FJsonObject;

// NNE is a private dependency (Build.cs): this public header names none of its types; the model
// instances hide behind Skyviewer::FRunModel and the .cpp includes NNE's headers.
namespace Skyviewer
{
	// The package contract, checked against each manifest at load; tests/test_engine_samples.py checks
	// these lists against the exporter.
	// Format 2 (skyviewer/train/onnx_export.py): start and step each output the frame.
	inline constexpr const TCHAR* StartInputs[] = {TEXT("z"), TEXT("sun_dir"), TEXT("cloud_cover")};
	inline constexpr const TCHAR* StartOutputs[] = {TEXT("sky"), TEXT("field")};
	inline constexpr const TCHAR* StepInputs[] = {TEXT("field"), TEXT("motion"), TEXT("noise"), TEXT("sun_dir_next"), TEXT("cloud_cover")};
	inline constexpr const TCHAR* StepOutputs[] = {TEXT("next_frame"), TEXT("next_field"), TEXT("next_motion")};
	// Format 3 (skyviewer/export/layered.py): start and step carry the state, a decoder draws the frame.
	inline constexpr const TCHAR* LayeredStartInputs[] = {TEXT("z_a"), TEXT("z_b"), TEXT("z_motion")};
	inline constexpr const TCHAR* LayeredStartOutputs[] = {TEXT("noise_a"), TEXT("noise_b"), TEXT("motion")};
	inline constexpr const TCHAR* LayeredStepInputs[] = {TEXT("noise_a"), TEXT("noise_b"), TEXT("motion"), TEXT("noise"), TEXT("wind_speed"), TEXT("wind_towards")};
	inline constexpr const TCHAR* LayeredStepOutputs[] = {TEXT("next_noise_a"), TEXT("next_noise_b"), TEXT("next_motion")};
	inline constexpr const TCHAR* DecodeInputs[] = {TEXT("noise_a"), TEXT("noise_b"), TEXT("motion"), TEXT("sun_dir"), TEXT("cloud_cover"), TEXT("cirrus_cover")};
	inline constexpr const TCHAR* DecodeOutputs[] = {TEXT("sky")};

	// Clear-sky sun irradiance (lux per RGB channel, facing the sun) at SunElevationDeg, turbidity 3:
	// SkySim's atmosphere as skyviewer.runtime.lighting.sun_light uses it, interpolated in log (the same
	// table as the Unity sample's; tests/test_engine_lighting.py checks it against the reference).
	inline constexpr float SunElevationDeg[] = {
		0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f, 1.5f, 1.75f, 2f, 2.25f, 2.5f, 2.75f,
		3f, 3.5f, 4f, 4.5f, 5f, 5.5f, 6f, 7f, 8f, 9f, 10f, 12f, 14f, 17f, 20f, 25f, 30f, 40f, 50f, 65f, 90f};
	inline constexpr float SunIrradianceRgb[] = {
		5.8836f, 0.79584f, 0.006421f,   14.999f, 2.4401f, 0.030712f,   34.112f, 6.5258f, 0.12137f,
		70.004f, 15.432f, 0.40391f,   131.28f, 32.762f, 1.1561f,   227.74f, 63.356f, 2.9046f,
		369.52f, 113.1f, 6.526f,   566.23f, 188.53f, 13.324f,   826.2f, 296.37f, 25.066f,
		1156f, 443.07f, 43.959f,   1560.2f, 634.41f, 72.581f,   2041.2f, 875.19f, 113.77f,
		2599.6f, 1169.1f, 170.48f,   3942.6f, 1924.9f, 342.12f,   5565f, 2908.1f, 608.85f,
		7429.3f, 4109.9f, 987.1f,   9492.2f, 5511.1f, 1487.1f,   11710f, 7086.5f, 2112.9f,
		14043f, 8808.2f, 2863f,   18915f, 12581f, 4711.1f,   23881f, 16632f, 6957.5f,
		28789f, 20804f, 9511f,   33545f, 24983f, 12282f,   42410f, 33080f, 18180f,
		50309f, 40586f, 24192f,   60424f, 50539f, 32864f,   68752f, 58988f, 40786f,
		79586f, 70284f, 52096f,   87672f, 78916f, 61246f,   98645f, 90883f, 74599f,
		1.0544e+05f, 98432f, 83395f,   1.1128e+05f, 1.0499e+05f, 91258f,   1.1439e+05f, 1.0851e+05f, 95566f,
	};

	/** One input or output of a package model (the manifest's tensor entry). */
	struct FTensorSpec
	{
		FString Name;
		TArray<uint32> Shape;
		FString Role;       // latent | noise | condition | frame | state
		FString Condition;  // role == condition
		FString At;         // role == condition: current | next
		int32 Count() const;
	};
	/** One package model: its file, tensors and (step) recurrence. */
	struct FModelSpec
	{
		FString File;
		TArray<FTensorSpec> Inputs, Outputs;
		TArray<TPair<FString, FString>> Recurrence;  // step input <- output of the previous step
		TMap<FString, TSharedPtr<class FJsonValue>> Initial;  // input -> number or "start:OUTPUT"
	};
	using FTensors = TMap<FString, TArray<float>>;
	/** Runs one model instance (NNE CPU or GPU interface) on host tensors, by name. */
	using FRunModel = TFunction<bool(const FTensors& Inputs, FTensors& Outputs)>;
}

UENUM(BlueprintType)
enum class ESkyviewerSunSource : uint8
{
	ManifestDefault,  // the package's default sun_dir, fixed
	SolarPath,        // a simple solar path at LatitudeDeg on DayOfYear, clock from StartHour
	DirectionalLight  // follow SunLight (the sun is at -forward)
};

/** How the SkyLight follows the sky (README.md, "Lighting"). */
UENUM(BlueprintType)
enum class ESkyviewerSkyLightMode : uint8
{
	RealTimeCapture,      // the SkyLight's own real-time capture of the sky sphere (time-sliced by the engine)
	RecaptureOnNewFrame,  // RecaptureSky() when a new model frame arrives (a stationary or movable captured SkyLight)
	None                  // leave the SkyLight alone
};

UCLASS(ClassGroup = (Rendering), meta = (BlueprintSpawnableComponent))
class SKYVIEWERSKY_API USkyviewerSkyComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	USkyviewerSkyComponent();

	/** Folder of the sky package (sky.json, start.onnx, step.onnx, decode*.onnx), absolute or relative to the project's Content/. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	FDirectoryPath PackageDir;

	/** Optional: imported start.onnx / step.onnx assets (cooked with the game) instead of the files in PackageDir. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> StartModelData;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> StepModelData;
	/** Format 3, optional: imported decode.onnx (the CPU decoder) instead of the file. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> DecodeModelData;
	/** Format 3, optional: imported decode_N.onnx of the package's largest decoder (the GPU decoder) instead of the file. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	TObjectPtr<UNNEModelData> GpuDecodeModelData;

	/** NNE CPU runtime (ONNX Runtime on the CPU): start, step, and the decoder when no GPU runtime is used. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	FString RuntimeName = TEXT("NNERuntimeORTCpu");
	/** Format 3: decode with the package's largest decoder (decode_N, e.g. 2,048 px) on this NNE GPU runtime when it exists. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	bool bGpuDecoder = true;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Package")
	FString GpuRuntimeName = TEXT("NNERuntimeORTDml");

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
	/** Format 3: fraction of the high (cirrus) layer covered; negative = the manifest's default. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	float CirrusCover = -1.f;
	/** Format 3: wind speed at the cumulus layer, m/s (the cirrus moves faster); negative = the manifest's default. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	float WindSpeed = -1.f;
	/** Format 3: where the clouds drift towards, degrees from geographic north towards east (90: east); negative = the manifest's default. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions", meta = (ClampMin = "-1", ClampMax = "360"))
	float WindTowardsDeg = -1.f;
	/** Driven by the sky's sun (SolarPath / ManifestDefault) or read (DirectionalLight). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Conditions")
	TObjectPtr<UDirectionalLightComponent> SunLight;

	/** Sky light lit by the sky sphere: it captures the sphere's material (Is Sky), whose Custom node drops the
	 *  analytic sun in captures, so the sun lights the scene once, through SunLight (README.md, "Lighting"). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Lighting")
	TObjectPtr<USkyLightComponent> SkyLight;
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Lighting")
	ESkyviewerSkyLightMode SkyLightMode = ESkyviewerSkyLightMode::RealTimeCapture;
	/** Set SunLight's colour and intensity (lux x LightingScale) from the sun after the atmosphere and the clouds. */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Lighting")
	bool bDriveSunLight = true;
	/** Scene units per lux for the sun (1: Unreal's physical units, as the sky's nits with bOutputRadiance and RadianceScale 1). */
	UPROPERTY(EditAnywhere, Category = "Skyviewer|Lighting")
	float LightingScale = 1.f;

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

	/** Sunlight on a surface facing the sun now (linear RGB lux, before LightingScale), after the clear
	 *  atmosphere and the clouds in front of the sun; blended between model frames. */
	UFUNCTION(BlueprintPure, Category = "Skyviewer")
	FLinearColor GetSunIrradianceLux() const;

	/** How much of the sun the clouds let through now (1 clear, 0 hidden), blended between model frames. */
	UFUNCTION(BlueprintPure, Category = "Skyviewer")
	float GetSunVisibility() const;

	/** Unit vector to the sun, Unreal axes (+X north, +Y east, +Z up), now. */
	UFUNCTION(BlueprintPure, Category = "Skyviewer")
	FVector GetSunDirection() const;

protected:
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	struct FCondition
	{
		TArray<float> Default;
		float Lo = 0.f, Hi = 0.f;  // range of every element
	};
	struct FStepResult
	{
		bool bOk = false;
		Skyviewer::FTensors Outputs;  // the step's outputs (state; format 2 also the frame)
		TArray<FFloat16Color> Texels;  // the new frame as radiance, made on the worker thread
		float SunVisibility = 0.f;     // of the new frame, as the dome reads it (sun.glsl)
	};

	bool LoadPackage();
	bool ParseModel(const TSharedPtr<FJsonObject>& Json, Skyviewer::FModelSpec& Out) const;
	bool ChooseDecoder(const TSharedPtr<FJsonObject>& Models, const FString& Dir);
	UNNEModelData* ModelData(UNNEModelData* Asset, const FString& File) const;
	Skyviewer::FRunModel CreateInstance(UNNEModelData* Asset, const FString& File, const Skyviewer::FModelSpec& Spec) const;
	Skyviewer::FRunModel CreateGpuInstance(UNNEModelData* Asset, const FString& File, const Skyviewer::FModelSpec& Spec) const;
	static FString FrameOutput(const Skyviewer::FModelSpec& Spec);
	Skyviewer::FTensors HostInputs(const Skyviewer::FModelSpec& Spec, const Skyviewer::FTensors& CondNow, const Skyviewer::FTensors& CondNext);
	static bool RunDecoder(const Skyviewer::FRunModel& Decode, const Skyviewer::FModelSpec& Spec, Skyviewer::FTensors Inputs, const Skyviewer::FTensors& State, TArray<float>& Frame);
	void LaunchStep();
	void FinishStep(FStepResult&& Result);
	static float FrameSunVisibility(const TArray<FFloat16Color>& Texels, int32 N, const FVector& SunSky, float RadiusDeg, float FadeStops, float ClampNits);
	static FLinearColor ClearSkySun(const FVector& SunSky, float RadiusDeg);
	float BlendFactor() const;
	void UpdateLights(const FVector& SunUE);
	static TArray<FFloat16Color> ToRadiance(const TArray<float>& Encoded, int32 N, float Eps, float XMax);
	void UploadFrame(TArray<FFloat16Color> Texels, UTexture2D* Target) const;
	void SetConditions(Skyviewer::FTensors& Into, double SkySeconds) const;
	void SetScalar(Skyviewer::FTensors& Into, const TCHAR* Name, float Value) const;
	FVector SunDirectionSky(double SkySeconds) const;
	void UpdateMaterial();
	UTexture2D* MakeTexture() const;
	float Gaussian();

	Skyviewer::FModelSpec StartSpec, StepSpec, DecodeSpec;
	Skyviewer::FRunModel RunStart, RunStep;
	Skyviewer::FRunModel RunDecode;  // format 3 only: the chosen decoder (CPU or GPU runtime)
	bool bLayered = false;           // format 3: the package has models.decode
	float StepSeconds = 60.f;
	float EncodingEps = 1e-4f, EncodingXMax = 65504.f;
	float SunRadiusDeg = 0.2666f, SunLuminanceNits = 1.6e9f, SunLimbU = 0.6f;
	int32 Resolution = 0;            // side of the frames: the decoder's output (format 3) or projection.resolution_px
	TMap<FString, FCondition> Conditions;

	Skyviewer::FTensors Now, Next;        // conditions of the displayed pair: previous / newest frame
	Skyviewer::FTensors Recurrent;        // step inputs fed back (the state), host memory
	TFuture<FStepResult> Pending;
	bool bPending = false;
	Skyviewer::FTensors PendingNext;      // conditions of the frame the pending step makes

	UPROPERTY(Transient)
	TObjectPtr<UTexture2D> SkyPrev;
	UPROPERTY(Transient)
	TObjectPtr<UTexture2D> SkyNext;
	UPROPERTY(Transient)
	TObjectPtr<UMaterialInstanceDynamic> Material;

	float VisibilityPrev = 0.f, VisibilityNext = 0.f;  // the sun's visibility in SkyPrev, SkyNext
	double SkySeconds = 0.0;   // sky time of the newest frame (SkyNext)
	double SinceStep = 0.0;    // sky seconds since the newest frame
	int32 FrameIndex = 0;
	FRandomStream Random;
};
