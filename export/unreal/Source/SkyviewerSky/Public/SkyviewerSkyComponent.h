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

	double SkySeconds = 0.0;   // sky time of the newest frame (SkyNext)
	double SinceStep = 0.0;    // sky seconds since the newest frame
	int32 FrameIndex = 0;
	FRandomStream Random;
};
