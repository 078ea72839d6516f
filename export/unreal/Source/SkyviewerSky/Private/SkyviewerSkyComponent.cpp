// USkyviewerSkyComponent (see the header). The loop is skyviewer/runtime/model.py's, driven by the
// manifest's tensor roles: latent/noise inputs get fresh N(0, 1) draws, conditions get the sun, cloud
// and wind now / at the frame being produced, the step model's recurrent inputs get the previous
// step's outputs. Format 3: the start and the step make only the state, and a decoder draws every
// frame from it (decode.onnx on NNE's CPU runtime, or the largest decode_N.onnx on its GPU runtime).
// Format 2: the frame is the start's and each step's own output. Steps (and decodes) run on a worker
// thread (RunSync) one step ahead of the display; the display blends the previous and the newest
// frame over step_seconds of sky time.
#include "SkyviewerSkyComponent.h"

#include "Async/Async.h"
#include "Components/DirectionalLightComponent.h"
#include "Components/SkyLightComponent.h"
#include "Components/StaticMeshComponent.h"
#include "Dom/JsonObject.h"
#include "Engine/Texture2D.h"
#include "GameFramework/Actor.h"
#include "Materials/MaterialInstanceDynamic.h"
#include "Misc/FileHelper.h"
#include "Misc/Paths.h"
#include "NNE.h"
#include "NNEModelData.h"
#include "NNERuntimeCPU.h"
#include "NNERuntimeGPU.h"
#include "NNETypes.h"
#include "Serialization/JsonReader.h"
#include "Serialization/JsonSerializer.h"

DEFINE_LOG_CATEGORY_STATIC(LogSkyviewerSky, Log, All);

namespace
{
	const TCHAR* PackageFormat = TEXT("skyviewer-sky-package");
	const int32 PackageFormatVersions[] = {2, 3};
	const TCHAR* ModelStart = TEXT("start");
	const TCHAR* ModelStep = TEXT("step");
	const TCHAR* ModelDecode = TEXT("decode");     // the decoder at projection.resolution_px (CPU hosts)
	const TCHAR* DecoderPrefix = TEXT("decode_");  // decode_N: the same decoder at N px (GPU hosts)
	const TCHAR* ConditionSunDir = TEXT("sun_dir");
	const TCHAR* ConditionCloudCover = TEXT("cloud_cover");
	const TCHAR* ConditionCirrusCover = TEXT("cirrus_cover");
	const TCHAR* ConditionWindSpeed = TEXT("wind_speed");
	const TCHAR* ConditionWindTowards = TEXT("wind_towards");
	const TCHAR* InitialFromStart = TEXT("start:");

	// Unreal (+X north, +Y east, +Z up; left-handed) <-> skyviewer (+X east, +Y up, -Z north; right-handed).
	FVector SkyToUnreal(const FVector& S) { return FVector(-S.Z, S.X, S.Y); }
	FVector UnrealToSky(const FVector& U) { return FVector(U.Y, U.Z, -U.X); }

	// Simple solar path: declination from the day of the year, hour angle from local solar time.
	FVector SolarPathSky(float LatitudeDeg, int32 Day, double Hour)
	{
		const double Phi = FMath::DegreesToRadians(LatitudeDeg);
		const double Decl = FMath::DegreesToRadians(-23.44) * FMath::Cos(2.0 * PI * (Day + 10) / 365.0);
		const double H = FMath::DegreesToRadians((Hour - 12.0) * 15.0);  // afternoon: sun in the west
		const double East = -FMath::Cos(Decl) * FMath::Sin(H);
		const double North = FMath::Sin(Decl) * FMath::Cos(Phi) - FMath::Cos(Decl) * FMath::Sin(Phi) * FMath::Cos(H);
		const double Up = FMath::Sin(Decl) * FMath::Sin(Phi) + FMath::Cos(Decl) * FMath::Cos(Phi) * FMath::Cos(H);
		return FVector(East, Up, -North).GetSafeNormal();
	}

	bool IsDecoder(const FString& Model) { return Model == ModelDecode || Model.StartsWith(DecoderPrefix); }

	// Every name of Names among Spec's inputs and outputs (the contract lists in the header).
	template <int32 N>
	bool HasAll(const Skyviewer::FModelSpec& Spec, const TCHAR* const (&Names)[N], const FString& Model)
	{
		for (const TCHAR* Name : Names)
		{
			auto Named = [Name](const Skyviewer::FTensorSpec& T) { return T.Name == Name; };
			if (!Spec.Inputs.ContainsByPredicate(Named) && !Spec.Outputs.ContainsByPredicate(Named))
			{
				UE_LOG(LogSkyviewerSky, Error, TEXT("%s model: no tensor %s"), *Model, Name);
				return false;
			}
		}
		return true;
	}

	// Static shapes (the manifest's shapes are the graph's), then a runner binding host tensors by name
	// in the order of the graph's own tensor descriptions. The NNE CPU and GPU instances share this API.
	template <typename TInstance>
	Skyviewer::FRunModel MakeRunner(TSharedPtr<TInstance> Instance, const Skyviewer::FModelSpec& Spec, const FString& File)
	{
		if (!Instance.IsValid())
		{
			UE_LOG(LogSkyviewerSky, Error, TEXT("%s: NNE could not create the model"), *File);
			return nullptr;
		}
		TArray<UE::NNE::FTensorShape> Shapes;
		for (const UE::NNE::FTensorDesc& Desc : Instance->GetInputTensorDescs())
		{
			Shapes.Add(UE::NNE::FTensorShape::MakeFromSymbolic(Desc.GetShape()));
		}
		if (Instance->SetInputTensorShapes(Shapes) != TInstance::ESetInputTensorShapesStatus::Ok)
		{
			UE_LOG(LogSkyviewerSky, Error, TEXT("%s: SetInputTensorShapes failed"), *File);
			return nullptr;
		}
		return [Instance, Spec](const Skyviewer::FTensors& Inputs, Skyviewer::FTensors& Outputs)
		{
			TArray<UE::NNE::FTensorBindingCPU> In, Out;
			for (const UE::NNE::FTensorDesc& Desc : Instance->GetInputTensorDescs())
			{
				const TArray<float>* Data = Inputs.Find(Desc.GetName());
				if (Data == nullptr) return false;
				In.Add({(void*)Data->GetData(), uint64(Data->Num()) * sizeof(float)});
			}
			for (const UE::NNE::FTensorDesc& Desc : Instance->GetOutputTensorDescs())
			{
				const Skyviewer::FTensorSpec* S = Spec.Outputs.FindByPredicate([&](const Skyviewer::FTensorSpec& T) { return T.Name == Desc.GetName(); });
				if (S == nullptr) return false;
				TArray<float>& Data = Outputs.Add(S->Name);
				Data.SetNumUninitialized(S->Count());
				Out.Add({Data.GetData(), uint64(Data.Num()) * sizeof(float)});
			}
			return Instance->RunSync(In, Out) == TInstance::ERunSyncStatus::Ok;
		};
	}
}

int32 Skyviewer::FTensorSpec::Count() const
{
	int32 N = 1;
	for (uint32 D : Shape) N *= int32(D);
	return N;
}

USkyviewerSkyComponent::USkyviewerSkyComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
}

// ------------------------------------------------------------------ package

bool USkyviewerSkyComponent::ParseModel(const TSharedPtr<FJsonObject>& Json, Skyviewer::FModelSpec& Out) const
{
	if (!Json.IsValid()) return false;
	Out.File = Json->GetStringField(TEXT("file"));
	auto ParseTensors = [](const TArray<TSharedPtr<FJsonValue>>& Array, TArray<Skyviewer::FTensorSpec>& Into)
	{
		for (const TSharedPtr<FJsonValue>& Value : Array)
		{
			const TSharedPtr<FJsonObject> T = Value->AsObject();
			Skyviewer::FTensorSpec Spec;
			Spec.Name = T->GetStringField(TEXT("name"));
			for (const TSharedPtr<FJsonValue>& D : T->GetArrayField(TEXT("shape"))) Spec.Shape.Add(uint32(D->AsNumber()));
			Spec.Role = T->GetStringField(TEXT("role"));
			T->TryGetStringField(TEXT("condition"), Spec.Condition);
			T->TryGetStringField(TEXT("at"), Spec.At);
			if (T->GetStringField(TEXT("dtype")) != TEXT("float32") || (T->GetStringField(TEXT("layout")) != TEXT("NC") && T->GetStringField(TEXT("layout")) != TEXT("NCHW")))
			{
				UE_LOG(LogSkyviewerSky, Error, TEXT("tensor %s: only float32 NC/NCHW tensors are supported"), *Spec.Name);
				return false;
			}
			Into.Add(Spec);
		}
		return true;
	};
	if (!ParseTensors(Json->GetArrayField(TEXT("inputs")), Out.Inputs) || !ParseTensors(Json->GetArrayField(TEXT("outputs")), Out.Outputs)) return false;
	for (const TSharedPtr<FJsonValue>& Value : Json->GetArrayField(TEXT("recurrence")))
	{
		const TSharedPtr<FJsonObject> R = Value->AsObject();
		Out.Recurrence.Emplace(R->GetStringField(TEXT("input")), R->GetStringField(TEXT("output")));
		Out.Initial.Add(R->GetStringField(TEXT("input")), R->TryGetField(TEXT("initial")));
	}
	return true;
}

bool USkyviewerSkyComponent::LoadPackage()
{
	FString Dir = PackageDir.Path;
	if (FPaths::IsRelative(Dir)) Dir = FPaths::Combine(FPaths::ProjectContentDir(), Dir);
	FString Text;
	if (!FFileHelper::LoadFileToString(Text, *FPaths::Combine(Dir, TEXT("sky.json"))))
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("cannot read %s/sky.json"), *Dir);
		return false;
	}
	TSharedPtr<FJsonObject> Root;
	if (!FJsonSerializer::Deserialize(TJsonReaderFactory<>::Create(Text), Root) || !Root.IsValid()
		|| Root->GetStringField(TEXT("format")) != PackageFormat
		|| !MakeArrayView(PackageFormatVersions).Contains(int32(Root->GetIntegerField(TEXT("format_version")))))
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("%s/sky.json is not a %s manifest of version 2 or 3"), *Dir, PackageFormat);
		return false;
	}
	Resolution = Root->GetObjectField(TEXT("projection"))->GetIntegerField(TEXT("resolution_px"));
	StepSeconds = float(Root->GetNumberField(TEXT("step_seconds")));
	const TSharedPtr<FJsonObject> Radiance = Root->GetObjectField(TEXT("radiance"));
	const TSharedPtr<FJsonObject> Encoding = Radiance->GetObjectField(TEXT("encoding"));
	EncodingEps = float(Encoding->GetNumberField(TEXT("eps")));
	EncodingXMax = float(Encoding->GetNumberField(TEXT("x_max")));
	const TSharedPtr<FJsonObject> Sun = Radiance->GetObjectField(TEXT("sun"));
	SunRadiusDeg = float(Sun->GetNumberField(TEXT("angular_radius_deg")));
	SunLuminanceNits = float(Sun->GetNumberField(TEXT("luminance_nits")));
	SunLimbU = float(Sun->GetNumberField(TEXT("limb_darkening_u")));
	for (const TSharedPtr<FJsonValue>& Value : Root->GetArrayField(TEXT("conditions")))
	{
		const TSharedPtr<FJsonObject> C = Value->AsObject();
		FCondition& Condition = Conditions.Add(C->GetStringField(TEXT("name")));
		for (const TSharedPtr<FJsonValue>& V : C->GetArrayField(TEXT("default"))) Condition.Default.Add(float(V->AsNumber()));
		const TArray<TSharedPtr<FJsonValue>>& Range = C->GetArrayField(TEXT("range"));
		Condition.Lo = float(Range[0]->AsNumber());
		Condition.Hi = float(Range[1]->AsNumber());
	}
	const TSharedPtr<FJsonObject> Models = Root->GetObjectField(TEXT("models"));
	if (!ParseModel(Models->GetObjectField(ModelStart), StartSpec) || !ParseModel(Models->GetObjectField(ModelStep), StepSpec)) return false;
	bLayered = Models->HasField(ModelDecode);
	const bool bContract = bLayered
		? HasAll(StartSpec, Skyviewer::LayeredStartInputs, ModelStart) && HasAll(StartSpec, Skyviewer::LayeredStartOutputs, ModelStart)
			&& HasAll(StepSpec, Skyviewer::LayeredStepInputs, ModelStep) && HasAll(StepSpec, Skyviewer::LayeredStepOutputs, ModelStep)
		: HasAll(StartSpec, Skyviewer::StartInputs, ModelStart) && HasAll(StartSpec, Skyviewer::StartOutputs, ModelStart)
			&& HasAll(StepSpec, Skyviewer::StepInputs, ModelStep) && HasAll(StepSpec, Skyviewer::StepOutputs, ModelStep);
	if (!bContract) return false;
	RunStart = CreateInstance(StartModelData, FPaths::Combine(Dir, StartSpec.File), StartSpec);
	RunStep = CreateInstance(StepModelData, FPaths::Combine(Dir, StepSpec.File), StepSpec);
	return RunStart && RunStep && (!bLayered || ChooseDecoder(Models, Dir));
}

// Format 3: with bGpuDecoder and the GPU runtime present, the decoder with the largest output
// (decode_N, e.g. 2,048 px) on the GPU; otherwise decode.onnx on the CPU runtime. The frame side
// (and so the textures') is the chosen decoder's output.
bool USkyviewerSkyComponent::ChooseDecoder(const TSharedPtr<FJsonObject>& Models, const FString& Dir)
{
	const bool bGpu = bGpuDecoder && UE::NNE::GetRuntime<INNERuntimeGPU>(GpuRuntimeName).IsValid();
	FString Chosen = ModelDecode;
	int32 Largest = 0;
	for (const TPair<FString, TSharedPtr<FJsonValue>>& Model : Models->Values)
	{
		Skyviewer::FModelSpec Spec;
		if (!IsDecoder(Model.Key) || !ParseModel(Model.Value->AsObject(), Spec)) continue;
		if (!HasAll(Spec, Skyviewer::DecodeInputs, Model.Key) || !HasAll(Spec, Skyviewer::DecodeOutputs, Model.Key)) return false;
		const int32 Side = int32(Spec.Outputs.FindByPredicate([](const Skyviewer::FTensorSpec& T) { return T.Role == TEXT("frame"); })->Shape[3]);
		if ((bGpu && Side > Largest) || (!bGpu && Model.Key == ModelDecode))
		{
			Chosen = Model.Key;
			Largest = Side;
			DecodeSpec = Spec;
			Resolution = Side;
		}
	}
	const FString File = FPaths::Combine(Dir, DecodeSpec.File);
	RunDecode = bGpu ? CreateGpuInstance(GpuDecodeModelData, File, DecodeSpec) : CreateInstance(DecodeModelData, File, DecodeSpec);
	UE_LOG(LogSkyviewerSky, Log, TEXT("decoder %s (%d px) on %s"), *Chosen, Resolution, bGpu ? *GpuRuntimeName : *RuntimeName);
	return bool(RunDecode);
}

UNNEModelData* USkyviewerSkyComponent::ModelData(UNNEModelData* Asset, const FString& File) const
{
	if (Asset != nullptr) return Asset;
	TArray<uint8> Bytes;
	if (!FFileHelper::LoadFileToArray(Bytes, *File))
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("cannot read %s"), *File);
		return nullptr;
	}
	UNNEModelData* Data = NewObject<UNNEModelData>(const_cast<USkyviewerSkyComponent*>(this));
	Data->Init(TEXT("onnx"), Bytes);
	return Data;
}

Skyviewer::FRunModel USkyviewerSkyComponent::CreateInstance(UNNEModelData* Asset, const FString& File, const Skyviewer::FModelSpec& Spec) const
{
	TWeakInterfacePtr<INNERuntimeCPU> Runtime = UE::NNE::GetRuntime<INNERuntimeCPU>(RuntimeName);
	UNNEModelData* Data = ModelData(Asset, File);
	if (!Runtime.IsValid() || Data == nullptr)
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("%s: no model data, or NNE runtime %s not found (enable the NNERuntimeORT plugin)"), *File, *RuntimeName);
		return nullptr;
	}
	TSharedPtr<UE::NNE::IModelCPU> Model = Runtime->CreateModelCPU(Data);
	return MakeRunner(Model.IsValid() ? Model->CreateModelInstanceCPU() : nullptr, Spec, File);
}

// NNE's GPU interface: host tensors in and out, inference on the GPU (e.g. NNERuntimeORTDml on D3D12).
Skyviewer::FRunModel USkyviewerSkyComponent::CreateGpuInstance(UNNEModelData* Asset, const FString& File, const Skyviewer::FModelSpec& Spec) const
{
	TWeakInterfacePtr<INNERuntimeGPU> Runtime = UE::NNE::GetRuntime<INNERuntimeGPU>(GpuRuntimeName);
	UNNEModelData* Data = ModelData(Asset, File);
	if (!Runtime.IsValid() || Data == nullptr) return nullptr;
	TSharedPtr<UE::NNE::IModelGPU> Model = Runtime->CreateModelGPU(Data);
	return MakeRunner(Model.IsValid() ? Model->CreateModelInstanceGPU() : nullptr, Spec, File);
}

// Latent / noise: fresh N(0, 1); conditions: the values of the input frame ("current") or of the
// frame being produced ("next"). Frame / state inputs come from the recurrence.
Skyviewer::FTensors USkyviewerSkyComponent::HostInputs(const Skyviewer::FModelSpec& Spec,
	const Skyviewer::FTensors& CondNow, const Skyviewer::FTensors& CondNext)
{
	Skyviewer::FTensors Inputs;
	for (const Skyviewer::FTensorSpec& T : Spec.Inputs)
	{
		if (T.Role == TEXT("latent") || T.Role == TEXT("noise"))
		{
			TArray<float>& Data = Inputs.Add(T.Name);
			Data.SetNumUninitialized(T.Count());
			for (float& X : Data) X = Gaussian();
		}
		else if (T.Role == TEXT("condition") && T.At == TEXT("next"))
		{
			Inputs.Add(T.Name, CondNext.FindChecked(T.Condition));
		}
		else if (T.Role == TEXT("condition") && T.At == TEXT("current"))
		{
			Inputs.Add(T.Name, CondNow.FindChecked(T.Condition));
		}
	}
	return Inputs;
}

// Format 3: the decoder draws a frame from a state (its "state" inputs are the step's recurrent inputs,
// by name); Inputs holds its host inputs (the conditions of the frame it draws).
bool USkyviewerSkyComponent::RunDecoder(const Skyviewer::FRunModel& Decode, const Skyviewer::FModelSpec& Spec,
	Skyviewer::FTensors Inputs, const Skyviewer::FTensors& State, TArray<float>& Frame)
{
	for (const Skyviewer::FTensorSpec& T : Spec.Inputs)
		if (T.Role == TEXT("state")) Inputs.Add(T.Name, State.FindChecked(T.Name));
	Skyviewer::FTensors Outputs;
	if (!Decode(Inputs, Outputs)) return false;
	Frame = MoveTemp(Outputs.FindChecked(FrameOutput(Spec)));
	return true;
}

float USkyviewerSkyComponent::Gaussian()  // Box-Muller
{
	const float U1 = 1.f - Random.GetFraction(), U2 = Random.GetFraction();
	return FMath::Sqrt(-2.f * FMath::Loge(U1)) * FMath::Cos(2.f * PI * U2);
}

// ------------------------------------------------------------------ lifetime and loop

void USkyviewerSkyComponent::BeginPlay()
{
	Super::BeginPlay();
	if (!LoadPackage())
	{
		SetComponentTickEnabled(false);
		return;
	}
	if (SkyLight != nullptr && SkyLightMode == ESkyviewerSkyLightMode::RealTimeCapture && !SkyLight->IsRealTimeCaptureEnabled())
		UE_LOG(LogSkyviewerSky, Warning, TEXT("SkyLight: turn on Real Time Capture (Movable, Source Type: Captured Scene), or use RecaptureOnNewFrame"));
	SkyPrev = MakeTexture();
	SkyNext = MakeTexture();
	if (SkyMaterial != nullptr)
	{
		Material = UMaterialInstanceDynamic::Create(SkyMaterial, this);
		if (UStaticMeshComponent* Mesh = GetOwner()->FindComponentByClass<UStaticMeshComponent>()) Mesh->SetMaterial(0, Material);
	}
	ResetSky(Seed);
}

void USkyviewerSkyComponent::EndPlay(const EEndPlayReason::Type Reason)
{
	if (bPending) Pending.Wait();
	bPending = false;
	Super::EndPlay(Reason);
}

bool USkyviewerSkyComponent::ResetSky(int32 NewSeed)
{
	if (!RunStart || !RunStep || (bLayered && !RunDecode)) return false;
	if (bPending) Pending.Wait();
	bPending = false;
	Random.Initialize(NewSeed);
	SkySeconds = 0.0;
	SinceStep = 0.0;
	Now.Reset();
	SetConditions(Now, 0.0);
	Next = Now;
	Skyviewer::FTensors StartOut;
	if (!RunStart(HostInputs(StartSpec, Now, Next), StartOut))
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("start model failed"));
		return false;
	}
	Recurrent.Reset();
	for (const TPair<FString, FString>& R : StepSpec.Recurrence)
	{
		const TSharedPtr<FJsonValue>& Initial = StepSpec.Initial.FindChecked(R.Key);
		FString FromStart;
		if (Initial->TryGetString(FromStart) && FromStart.StartsWith(InitialFromStart))
		{
			Recurrent.Add(R.Key, StartOut.FindChecked(FromStart.RightChop(FCString::Strlen(InitialFromStart))));
		}
		else
		{
			const Skyviewer::FTensorSpec* S = StepSpec.Inputs.FindByPredicate([&](const Skyviewer::FTensorSpec& T) { return T.Name == R.Key; });
			TArray<float>& Fill = Recurrent.Add(R.Key);
			Fill.Init(float(Initial->AsNumber()), S->Count());
		}
	}
	TArray<float> StartFrame;
	if (!bLayered) StartFrame = StartOut.FindChecked(FrameOutput(StartSpec));
	else if (!RunDecoder(RunDecode, DecodeSpec, HostInputs(DecodeSpec, Now, Now), Recurrent, StartFrame))
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("decoder failed"));
		return false;
	}
	const TArray<FFloat16Color> Texels = ToRadiance(StartFrame, Resolution, EncodingEps, EncodingXMax);
	VisibilityPrev = VisibilityNext = FrameSunVisibility(Texels, Resolution, SunDirectionSky(0.0), SunRadiusDeg, SunFadeStops, EncodingXMax);
	UploadFrame(Texels, SkyPrev);
	UploadFrame(Texels, SkyNext);
	LaunchStep();
	return true;
}

// The output with role "frame" (format 2: start sky, step next_frame; format 3: each decoder's sky).
FString USkyviewerSkyComponent::FrameOutput(const Skyviewer::FModelSpec& Spec)
{
	return Spec.Outputs.FindByPredicate([](const Skyviewer::FTensorSpec& T) { return T.Role == TEXT("frame"); })->Name;
}

// Runs the step after the newest frame on a worker thread (one step ahead of the display); format 3
// then decodes the new state there too, and the frame is converted to radiance there.
void USkyviewerSkyComponent::LaunchStep()
{
	// The newest frame (SkyNext, conditions Next) is the step's input; it makes the frame at
	// SkySeconds + StepSeconds, under the conditions computed here (wind: "next").
	Skyviewer::FTensors StepNext = Next;
	SetConditions(StepNext, SkySeconds + StepSeconds);
	Skyviewer::FTensors Inputs = HostInputs(StepSpec, Next, StepNext);
	for (const TPair<FString, FString>& R : StepSpec.Recurrence) Inputs.Add(R.Key, Recurrent.FindChecked(R.Key));
	// The decoder draws the new frame under that frame's own conditions ("current" for it).
	Skyviewer::FTensors DecodeInputs = bLayered ? HostInputs(DecodeSpec, StepNext, StepNext) : Skyviewer::FTensors();
	PendingNext = StepNext;
	const TArray<float>* NewSun = StepNext.Find(ConditionSunDir);
	const FVector SunSky = NewSun ? FVector((*NewSun)[0], (*NewSun)[1], (*NewSun)[2]) : SunDirectionSky(SkySeconds + StepSeconds);
	Pending = Async(EAsyncExecution::ThreadPool,
		[Step = RunStep, Decode = RunDecode, StepSpec = StepSpec, DecodeSpec = DecodeSpec, Inputs = MoveTemp(Inputs),
			DecodeInputs = MoveTemp(DecodeInputs), N = Resolution, Eps = EncodingEps, XMax = EncodingXMax,
			SunSky, Radius = SunRadiusDeg, Fade = SunFadeStops]()
	{
		FStepResult Result;
		Result.bOk = Step(Inputs, Result.Outputs);
		TArray<float> Frame;
		if (Result.bOk && Decode)
		{
			Skyviewer::FTensors State;  // the step's outputs under the names the next step (and the decoder) read
			for (const TPair<FString, FString>& R : StepSpec.Recurrence) State.Add(R.Key, Result.Outputs.FindChecked(R.Value));
			Result.bOk = RunDecoder(Decode, DecodeSpec, DecodeInputs, State, Frame);
		}
		else if (Result.bOk)
		{
			Frame = MoveTemp(Result.Outputs.FindChecked(FrameOutput(StepSpec)));
		}
		if (Result.bOk)
		{
			Result.Texels = ToRadiance(Frame, N, Eps, XMax);
			Result.SunVisibility = FrameSunVisibility(Result.Texels, N, SunSky, Radius, Fade, XMax);
		}
		return Result;
	});
	bPending = true;
}

void USkyviewerSkyComponent::FinishStep(FStepResult&& Result)
{
	bPending = false;
	if (!Result.bOk)
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("step or decoder failed"));
		SetComponentTickEnabled(false);
		return;
	}
	for (const TPair<FString, FString>& R : StepSpec.Recurrence) Recurrent.Add(R.Key, MoveTemp(Result.Outputs.FindChecked(R.Value)));
	Now = Next;              // the displayed pair: previous frame (Now) -> newest frame (Next)
	Next = PendingNext;
	SkySeconds += StepSeconds;
	SinceStep = FMath::Max(0.0, SinceStep - StepSeconds);
	Swap(SkyPrev, SkyNext);
	UploadFrame(MoveTemp(Result.Texels), SkyNext);
	VisibilityPrev = VisibilityNext;
	VisibilityNext = Result.SunVisibility;
	// A captured SkyLight follows the new frame; the blend in between is the real-time capture's to follow.
	if (SkyLight != nullptr && SkyLightMode == ESkyviewerSkyLightMode::RecaptureOnNewFrame) SkyLight->RecaptureSky();
	LaunchStep();
}

void USkyviewerSkyComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	SinceStep += double(DeltaTime) * TimeMultiplier;
	if (SinceStep >= StepSeconds)
	{
		if (bPending && Pending.IsReady()) FinishStep(Pending.Consume());
		else SinceStep = StepSeconds;  // the model is behind: hold the newest frame
	}
	UpdateMaterial();
}

// ------------------------------------------------------------------ conditions

void USkyviewerSkyComponent::SetConditions(Skyviewer::FTensors& Into, double AtSkySeconds) const
{
	for (const TPair<FString, FCondition>& C : Conditions)
		if (!Into.Contains(C.Key)) Into.Add(C.Key, C.Value.Default);
	SetScalar(Into, ConditionCloudCover, CloudCover);
	SetScalar(Into, ConditionCirrusCover, CirrusCover);  // format 3 only (format 2 has no such condition)
	SetScalar(Into, ConditionWindSpeed, WindSpeed);
	SetScalar(Into, ConditionWindTowards, WindTowardsDeg);
	if (TArray<float>* Sun = Into.Find(ConditionSunDir))
	{
		const FVector D = SunDirectionSky(AtSkySeconds);
		*Sun = {float(D.X), float(D.Y), float(D.Z)};
	}
}

// A one-value condition from a property: negative = the manifest's default, else clamped to its range.
// A change reaches the sky at the next step (wind: "next") or the next decode; nothing resets.
void USkyviewerSkyComponent::SetScalar(Skyviewer::FTensors& Into, const TCHAR* Name, float Value) const
{
	TArray<float>* V = Into.Find(Name);
	const FCondition* C = Conditions.Find(Name);
	if (V == nullptr || C == nullptr) return;
	(*V)[0] = Value < 0.f ? C->Default[0] : FMath::Clamp(Value, C->Lo, C->Hi);
}

FVector USkyviewerSkyComponent::SunDirectionSky(double AtSkySeconds) const
{
	if (SunSource == ESkyviewerSunSource::DirectionalLight && SunLight != nullptr)
		return UnrealToSky(-SunLight->GetForwardVector());
	if (SunSource == ESkyviewerSunSource::SolarPath)
		return SolarPathSky(LatitudeDeg, DayOfYear, StartHour + AtSkySeconds / 3600.0);
	if (const FCondition* C = Conditions.Find(ConditionSunDir))
		return FVector(C->Default[0], C->Default[1], C->Default[2]).GetSafeNormal();
	return FVector(0, 1, 0);
}

FVector USkyviewerSkyComponent::GetSunDirection() const
{
	const TArray<float>* A = Now.Find(ConditionSunDir);
	const TArray<float>* B = Next.Find(ConditionSunDir);
	if (A == nullptr || B == nullptr) return FVector::UpVector;
	const float Blend = BlendFactor();
	const FVector Sky = FMath::Lerp(FVector((*A)[0], (*A)[1], (*A)[2]), FVector((*B)[0], (*B)[1], (*B)[2]), Blend).GetSafeNormal();
	return SkyToUnreal(Sky);
}

// ------------------------------------------------------------------ textures and material

UTexture2D* USkyviewerSkyComponent::MakeTexture() const
{
	UTexture2D* T = UTexture2D::CreateTransient(Resolution, Resolution, PF_FloatRGBA);
	T->SRGB = false;
	T->Filter = TF_Bilinear;
	T->AddressX = TA_Clamp;
	T->AddressY = TA_Clamp;
	T->CompressionSettings = TC_HDR;
	T->UpdateResource();
	return T;
}

// Encoded NCHW (1, 3, N, N) -> radiance (nits) RGBA half, row 0 (north) first = v = 0. The decode
// is the exact inverse of the manifest's encoding (radiance.encoding: eps, x_max). Runs on the worker
// thread for steps: at 2,048 px it is 4 M texels.
TArray<FFloat16Color> USkyviewerSkyComponent::ToRadiance(const TArray<float>& Encoded, int32 N, float Eps, float XMax)
{
	const int32 Plane = N * N;
	check(Encoded.Num() == 3 * Plane);
	const double Lo = FMath::Log2(double(Eps));
	const double Stops = FMath::Log2(double(XMax) + Eps) - Lo;
	TArray<FFloat16Color> Texels;
	Texels.SetNumUninitialized(Plane);
	for (int32 I = 0; I < Plane; ++I)
	{
		float Rgb[3];
		for (int32 C = 0; C < 3; ++C)
		{
			const double E = FMath::Clamp(double(Encoded[C * Plane + I]), -1.0, 1.0);
			Rgb[C] = float(FMath::Max(FMath::Pow(2.0, (E + 1.0) * 0.5 * Stops + Lo) - Eps, 0.0));
		}
		Texels[I] = FFloat16Color(FLinearColor(Rgb[0], Rgb[1], Rgb[2], 1.f));
	}
	return Texels;
}

void USkyviewerSkyComponent::UploadFrame(TArray<FFloat16Color> Texels, UTexture2D* Target) const
{
	const int32 N = Resolution;
	check(Texels.Num() == N * N);
	// The texels move to the heap; the render thread frees them once uploaded.
	TArray<FFloat16Color>* Owned = new TArray<FFloat16Color>(MoveTemp(Texels));
	FUpdateTextureRegion2D* Region = new FUpdateTextureRegion2D(0, 0, 0, 0, N, N);
	Target->UpdateTextureRegions(0, 1, Region, N * sizeof(FFloat16Color), sizeof(FFloat16Color), (uint8*)Owned->GetData(),
		[Owned](uint8*, const FUpdateTextureRegion2D* Regions)
		{
			delete Owned;
			delete Regions;
		});
}

// DomeParams (skyviewer/shaders/uniforms.glsl) as material parameters; SkyviewerSky.ush packs them back.
void USkyviewerSkyComponent::UpdateMaterial()
{
	const FVector SunUE = GetSunDirection();
	UpdateLights(SunUE);
	if (Material == nullptr) return;
	const FVector SunSky = UnrealToSky(SunUE);
	const float Blend = BlendFactor();
	const float ExposureScale = 0.18f / FMath::Max(KeyNits, 1e-12f) * FMath::Pow(2.f, ExposureStops);
	Material->SetTextureParameterValue(TEXT("SkyPrev"), SkyPrev);
	Material->SetTextureParameterValue(TEXT("SkyNext"), SkyNext);
	Material->SetVectorParameterValue(TEXT("SunDirection"), FLinearColor(SunSky.X, SunSky.Y, SunSky.Z, 0.f));
	Material->SetVectorParameterValue(TEXT("SunRadiance"), FLinearColor(SunLuminanceNits, SunLuminanceNits, SunLuminanceNits, 0.f));
	Material->SetVectorParameterValue(TEXT("GroundAlbedo"), GroundAlbedo);
	Material->SetVectorParameterValue(TEXT("DomeScalars0"), FLinearColor(ExposureScale, Blend, FMath::DegreesToRadians(SunRadiusDeg), SunLimbU));
	Material->SetVectorParameterValue(TEXT("DomeScalars1"), FLinearColor(FMath::DegreesToRadians(HazeDepthDeg), bDither ? 1.f : 0.f, float(FrameIndex++ % (1 << 24)), SunFadeStops));
	Material->SetVectorParameterValue(TEXT("DomeScalars2"), FLinearColor(EncodingXMax, RadianceScale, bOutputRadiance ? 1.f : 0.f, 0.f));
}

// ------------------------------------------------------------------ lighting

float USkyviewerSkyComponent::BlendFactor() const
{
	return StepSeconds > 0.f ? float(FMath::Min(SinceStep / StepSeconds, 1.0)) : 1.f;
}

// The sun light: pointed along -sun (SunSource DirectionalLight: it is the input), coloured and as bright as
// the sun after the clear atmosphere and the clouds (skyviewer.runtime.lighting.sun_light). The SkyLight
// gets the rest of the sky through its capture of the sky sphere (the Custom node drops the disc there).
void USkyviewerSkyComponent::UpdateLights(const FVector& SunUE)
{
	if (SunLight == nullptr) return;
	if (SunSource != ESkyviewerSunSource::DirectionalLight) SunLight->SetWorldRotation((-SunUE).Rotation());
	if (!bDriveSunLight) return;
	const FLinearColor Lux = GetSunIrradianceLux();
	const float Illuminance = 0.2126f * Lux.R + 0.7152f * Lux.G + 0.0722f * Lux.B;  // Rec. 709, as the reference (not GetLuminance's 0.3/0.59/0.11)
	SunLight->SetIntensity(Illuminance * LightingScale);
	if (Illuminance > 0.f) SunLight->SetLightColor(Lux / Illuminance, /*bSRGB=*/false);
}

float USkyviewerSkyComponent::GetSunVisibility() const
{
	return FMath::Lerp(VisibilityPrev, VisibilityNext, BlendFactor());
}

FLinearColor USkyviewerSkyComponent::GetSunIrradianceLux() const
{
	return ClearSkySun(UnrealToSky(GetSunDirection()), SunRadiusDeg) * GetSunVisibility();
}

// The table (header), log-interpolated in elevation, times the part of the disc above the horizon.
FLinearColor USkyviewerSkyComponent::ClearSkySun(const FVector& SunSky, float RadiusDeg)
{
	const double Elevation = FMath::RadiansToDegrees(FMath::Asin(FMath::Clamp(SunSky.GetSafeNormal().Y, -1.0, 1.0)));
	const float Above = FMath::SmoothStep(-RadiusDeg, RadiusDeg, float(Elevation));
	const int32 N = UE_ARRAY_COUNT(Skyviewer::SunElevationDeg);
	const float E = FMath::Clamp(float(Elevation), Skyviewer::SunElevationDeg[0], Skyviewer::SunElevationDeg[N - 1]);
	int32 K = 0;
	while (K < N - 2 && E > Skyviewer::SunElevationDeg[K + 1]) ++K;
	const float T = (E - Skyviewer::SunElevationDeg[K]) / (Skyviewer::SunElevationDeg[K + 1] - Skyviewer::SunElevationDeg[K]);
	float Rgb[3];
	for (int32 C = 0; C < 3; ++C)
		Rgb[C] = Above * FMath::Exp(FMath::Lerp(FMath::Loge(Skyviewer::SunIrradianceRgb[3 * K + C]), FMath::Loge(Skyviewer::SunIrradianceRgb[3 * K + 3 + C]), T));
	return FLinearColor(Rgb[0], Rgb[1], Rgb[2]);
}

// sun.glsl's visibility, as the dome reads it: 1 when the brightest channel of the 3 x 3 texels at the sun
// reaches the clamp, 0 once it is FadeStops under it; 0 for a sun below the horizon. Texels: row 0 = v = 0.
float USkyviewerSkyComponent::FrameSunVisibility(const TArray<FFloat16Color>& Texels, int32 N, const FVector& SunSky,
	float RadiusDeg, float FadeStops, float ClampNits)
{
	const FVector D = SunSky.GetSafeNormal();
	if (D.Y <= -FMath::DegreesToRadians(RadiusDeg)) return 0.f;  // as sun.glsl compares y with the radius
	const double S = FMath::Sqrt(D.X * D.X + D.Z * D.Z);
	const double K = S > 1e-7 ? FMath::Atan2(S, D.Y) / (UE_HALF_PI * S) : 2.0 / UE_PI;  // fisheye_uv
	const int32 Col = FMath::Clamp(int32((0.5 - 0.5 * K * D.X) * N), 0, N - 1);
	const int32 Row = FMath::Clamp(int32((0.5 + 0.5 * K * D.Z) * N), 0, N - 1);
	float Peak = 0.f;
	for (int32 Y = FMath::Max(Row - 1, 0); Y <= FMath::Min(Row + 1, N - 1); ++Y)
	{
		for (int32 X = FMath::Max(Col - 1, 0); X <= FMath::Min(Col + 1, N - 1); ++X)
		{
			const FLinearColor C = Texels[Y * N + X].GetFloats();
			Peak = FMath::Max(Peak, FMath::Max3(C.R, C.G, C.B));
		}
	}
	const float Stops = FMath::Log2(FMath::Max(Peak, 1e-30f) / ClampNits);
	return FMath::SmoothStep(-FadeStops, 0.f, Stops);
}
