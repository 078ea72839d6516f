// USkyviewerSkyComponent (see the header). The loop is skyviewer/runtime/model.py's, driven by the
// manifest's tensor roles: latent/noise inputs get fresh N(0, 1) draws, conditions get the sun and
// cloud cover now / at the frame being produced, the step model's recurrent inputs get the
// previous step's outputs. Steps run on a worker thread (NNE CPU, RunSync) one step ahead of the
// display; the display blends the previous and the newest frame over step_seconds of sky time.
#include "SkyviewerSkyComponent.h"

#include "Async/Async.h"
#include "Components/DirectionalLightComponent.h"
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
#include "NNETypes.h"
#include "Serialization/JsonReader.h"
#include "Serialization/JsonSerializer.h"

DEFINE_LOG_CATEGORY_STATIC(LogSkyviewerSky, Log, All);

namespace
{
	const TCHAR* PackageFormat = TEXT("skyviewer-sky-package");
	const int32 PackageFormatVersion = 2;
	const TCHAR* ConditionSunDir = TEXT("sun_dir");
	const TCHAR* ConditionCloudCover = TEXT("cloud_cover");
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
}

int32 USkyviewerSkyComponent::FTensorSpec::Count() const
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

bool USkyviewerSkyComponent::ParseModel(const TSharedPtr<FJsonObject>& Json, FModelSpec& Out) const
{
	if (!Json.IsValid()) return false;
	Out.File = Json->GetStringField(TEXT("file"));
	auto ParseTensors = [](const TArray<TSharedPtr<FJsonValue>>& Array, TArray<FTensorSpec>& Into)
	{
		for (const TSharedPtr<FJsonValue>& Value : Array)
		{
			const TSharedPtr<FJsonObject> T = Value->AsObject();
			FTensorSpec Spec;
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
		|| Root->GetStringField(TEXT("format")) != PackageFormat || Root->GetIntegerField(TEXT("format_version")) != PackageFormatVersion)
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("%s/sky.json is not a %s v%d manifest"), *Dir, PackageFormat, PackageFormatVersion);
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
		TArray<float> Default;
		for (const TSharedPtr<FJsonValue>& V : C->GetArrayField(TEXT("default"))) Default.Add(float(V->AsNumber()));
		ConditionDefaults.Emplace(C->GetStringField(TEXT("name")), Default);
	}
	const TSharedPtr<FJsonObject> Models = Root->GetObjectField(TEXT("models"));
	if (!ParseModel(Models->GetObjectField(TEXT("start")), StartSpec) || !ParseModel(Models->GetObjectField(TEXT("step")), StepSpec)) return false;

	auto Has = [](const FModelSpec& Spec, const TCHAR* Name)
	{
		return Spec.Inputs.ContainsByPredicate([Name](const FTensorSpec& T) { return T.Name == Name; })
			|| Spec.Outputs.ContainsByPredicate([Name](const FTensorSpec& T) { return T.Name == Name; });
	};
	for (const TCHAR* Name : Skyviewer::StartInputs) if (!Has(StartSpec, Name)) { UE_LOG(LogSkyviewerSky, Error, TEXT("start model: no input %s"), Name); return false; }
	for (const TCHAR* Name : Skyviewer::StartOutputs) if (!Has(StartSpec, Name)) { UE_LOG(LogSkyviewerSky, Error, TEXT("start model: no output %s"), Name); return false; }
	for (const TCHAR* Name : Skyviewer::StepInputs) if (!Has(StepSpec, Name)) { UE_LOG(LogSkyviewerSky, Error, TEXT("step model: no input %s"), Name); return false; }
	for (const TCHAR* Name : Skyviewer::StepOutputs) if (!Has(StepSpec, Name)) { UE_LOG(LogSkyviewerSky, Error, TEXT("step model: no output %s"), Name); return false; }

	StartInstance = CreateInstance(StartModelData, FPaths::Combine(Dir, StartSpec.File));
	StepInstance = CreateInstance(StepModelData, FPaths::Combine(Dir, StepSpec.File));
	return StartInstance.IsValid() && StepInstance.IsValid();
}

TSharedPtr<UE::NNE::IModelInstanceCPU> USkyviewerSkyComponent::CreateInstance(UNNEModelData* Asset, const FString& File) const
{
	UNNEModelData* Data = Asset;
	if (Data == nullptr)
	{
		TArray<uint8> Bytes;
		if (!FFileHelper::LoadFileToArray(Bytes, *File))
		{
			UE_LOG(LogSkyviewerSky, Error, TEXT("cannot read %s"), *File);
			return nullptr;
		}
		Data = NewObject<UNNEModelData>(const_cast<USkyviewerSkyComponent*>(this));
		Data->Init(TEXT("onnx"), Bytes);
	}
	TWeakInterfacePtr<INNERuntimeCPU> Runtime = UE::NNE::GetRuntime<INNERuntimeCPU>(RuntimeName);
	if (!Runtime.IsValid())
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("NNE runtime %s not found (enable the NNERuntimeORT plugin)"), *RuntimeName);
		return nullptr;
	}
	TSharedPtr<UE::NNE::IModelCPU> Model = Runtime->CreateModelCPU(Data);
	TSharedPtr<UE::NNE::IModelInstanceCPU> Instance = Model.IsValid() ? Model->CreateModelInstanceCPU() : nullptr;
	if (!Instance.IsValid())
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("%s: NNE could not create the model"), *File);
		return nullptr;
	}
	// Static shapes: the manifest's shapes are the graph's.
	TArray<UE::NNE::FTensorShape> Shapes;
	for (const UE::NNE::FTensorDesc& Desc : Instance->GetInputTensorDescs())
	{
		Shapes.Add(UE::NNE::FTensorShape::MakeFromSymbolic(Desc.GetShape()));
	}
	if (Instance->SetInputTensorShapes(Shapes) != UE::NNE::IModelInstanceCPU::ESetInputTensorShapesStatus::Ok)
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("%s: SetInputTensorShapes failed"), *File);
		return nullptr;
	}
	return Instance;
}

// Bindings in the order of the graph's own tensor descriptions, matched by name.
bool USkyviewerSkyComponent::RunModel(UE::NNE::IModelInstanceCPU& Instance, const FModelSpec& Spec,
	const TMap<FString, TArray<float>>& Inputs, TMap<FString, TArray<float>>& Outputs)
{
	TArray<UE::NNE::FTensorBindingCPU> In, Out;
	for (const UE::NNE::FTensorDesc& Desc : Instance.GetInputTensorDescs())
	{
		const TArray<float>* Data = Inputs.Find(Desc.GetName());
		if (Data == nullptr) return false;
		In.Add({(void*)Data->GetData(), uint64(Data->Num()) * sizeof(float)});
	}
	for (const UE::NNE::FTensorDesc& Desc : Instance.GetOutputTensorDescs())
	{
		const FTensorSpec* S = Spec.Outputs.FindByPredicate([&](const FTensorSpec& T) { return T.Name == Desc.GetName(); });
		if (S == nullptr) return false;
		TArray<float>& Data = Outputs.Add(S->Name);
		Data.SetNumUninitialized(S->Count());
		Out.Add({Data.GetData(), uint64(Data.Num()) * sizeof(float)});
	}
	return Instance.RunSync(In, Out) == UE::NNE::IModelInstanceCPU::ERunSyncStatus::Ok;
}

// Latent / noise: fresh N(0, 1); conditions: the values now or at the frame being produced.
TMap<FString, TArray<float>> USkyviewerSkyComponent::HostInputs(const FModelSpec& Spec,
	const TMap<FString, TArray<float>>& CondNow, const TMap<FString, TArray<float>>& CondNext)
{
	TMap<FString, TArray<float>> Inputs;
	for (const FTensorSpec& T : Spec.Inputs)
	{
		if (T.Role == TEXT("latent") || T.Role == TEXT("noise"))
		{
			TArray<float>& Data = Inputs.Add(T.Name);
			Data.SetNumUninitialized(T.Count());
			for (float& X : Data) X = Gaussian();
		}
		else if (T.Role == TEXT("condition"))
		{
			Inputs.Add(T.Name, (T.At == TEXT("next") ? CondNext : CondNow).FindChecked(T.Condition));
		}
	}
	return Inputs;
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
	if (!StartInstance.IsValid() || !StepInstance.IsValid()) return false;
	if (bPending) Pending.Wait();
	bPending = false;
	Random.Initialize(NewSeed);
	SkySeconds = 0.0;
	SinceStep = 0.0;
	Now.Reset();
	SetConditions(Now, 0.0);
	Next = Now;
	TMap<FString, TArray<float>> StartOut;
	if (!RunModel(*StartInstance, StartSpec, HostInputs(StartSpec, Now, Next), StartOut))
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
			const FTensorSpec* S = StepSpec.Inputs.FindByPredicate([&](const FTensorSpec& T) { return T.Name == R.Key; });
			TArray<float>& Fill = Recurrent.Add(R.Key);
			Fill.Init(float(Initial->AsNumber()), S->Count());
		}
	}
	const TArray<float>& StartFrame = StartOut.FindChecked(FrameOutput(StartSpec));
	UploadFrame(StartFrame, SkyPrev);
	UploadFrame(StartFrame, SkyNext);
	LaunchStep();
	return true;
}

// The output with role "frame" (start: sky, step: next_frame) is the newest frame.
FString USkyviewerSkyComponent::FrameOutput(const FModelSpec& Spec)
{
	return Spec.Outputs.FindByPredicate([](const FTensorSpec& T) { return T.Role == TEXT("frame"); })->Name;
}

// Runs the step after the newest frame on a worker thread (one step ahead of the display).
void USkyviewerSkyComponent::LaunchStep()
{
	// The newest frame (SkyNext, conditions Next) is the step's input; it makes the frame at
	// SkySeconds + StepSeconds, under the conditions computed here.
	TMap<FString, TArray<float>> StepNext = Next;
	SetConditions(StepNext, SkySeconds + StepSeconds);
	TMap<FString, TArray<float>> Inputs = HostInputs(StepSpec, Next, StepNext);
	for (const TPair<FString, FString>& R : StepSpec.Recurrence) Inputs.Add(R.Key, Recurrent.FindChecked(R.Key));
	PendingNext = StepNext;
	TSharedPtr<UE::NNE::IModelInstanceCPU> Instance = StepInstance;
	const FModelSpec Spec = StepSpec;
	Pending = Async(EAsyncExecution::ThreadPool, [Instance, Spec, Inputs = MoveTemp(Inputs)]()
	{
		FStepResult Result;
		Result.bOk = RunModel(*Instance, Spec, Inputs, Result.Outputs);
		return Result;
	});
	bPending = true;
}

void USkyviewerSkyComponent::FinishStep(FStepResult&& Result)
{
	bPending = false;
	if (!Result.bOk)
	{
		UE_LOG(LogSkyviewerSky, Error, TEXT("step model failed"));
		SetComponentTickEnabled(false);
		return;
	}
	for (const TPair<FString, FString>& R : StepSpec.Recurrence) Recurrent.Add(R.Key, MoveTemp(Result.Outputs.FindChecked(R.Value)));
	Now = Next;              // the displayed pair: previous frame (Now) -> newest frame (Next)
	Next = PendingNext;
	SkySeconds += StepSeconds;
	SinceStep = FMath::Max(0.0, SinceStep - StepSeconds);
	Swap(SkyPrev, SkyNext);
	UploadFrame(Result.Outputs.FindChecked(FrameOutput(StepSpec)), SkyNext);
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

void USkyviewerSkyComponent::SetConditions(TMap<FString, TArray<float>>& Into, double AtSkySeconds) const
{
	for (const TPair<FString, TArray<float>>& C : ConditionDefaults)
		if (!Into.Contains(C.Key)) Into.Add(C.Key, C.Value);
	if (TArray<float>* Cover = Into.Find(ConditionCloudCover); Cover && CloudCover >= 0.f) (*Cover)[0] = FMath::Clamp(CloudCover, 0.f, 1.f);
	if (TArray<float>* Sun = Into.Find(ConditionSunDir))
	{
		const FVector D = SunDirectionSky(AtSkySeconds);
		*Sun = {float(D.X), float(D.Y), float(D.Z)};
	}
}

FVector USkyviewerSkyComponent::SunDirectionSky(double AtSkySeconds) const
{
	if (SunSource == ESkyviewerSunSource::DirectionalLight && SunLight != nullptr)
		return UnrealToSky(-SunLight->GetForwardVector());
	if (SunSource == ESkyviewerSunSource::SolarPath)
		return SolarPathSky(LatitudeDeg, DayOfYear, StartHour + AtSkySeconds / 3600.0);
	for (const TPair<FString, TArray<float>>& C : ConditionDefaults)
		if (C.Key == ConditionSunDir) return FVector(C.Value[0], C.Value[1], C.Value[2]).GetSafeNormal();
	return FVector(0, 1, 0);
}

FVector USkyviewerSkyComponent::GetSunDirection() const
{
	const TArray<float>* A = Now.Find(ConditionSunDir);
	const TArray<float>* B = Next.Find(ConditionSunDir);
	if (A == nullptr || B == nullptr) return FVector::UpVector;
	const float Blend = StepSeconds > 0.f ? float(FMath::Min(SinceStep / StepSeconds, 1.0)) : 1.f;
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
// is the exact inverse of the manifest's encoding (radiance.encoding: eps, x_max).
void USkyviewerSkyComponent::UploadFrame(const TArray<float>& Encoded, UTexture2D* Target) const
{
	const int32 N = Resolution, Plane = N * N;
	check(Encoded.Num() == 3 * Plane);
	const double Lo = FMath::Log2(double(EncodingEps));
	const double Stops = FMath::Log2(double(EncodingXMax) + EncodingEps) - Lo;
	FFloat16Color* Texels = new FFloat16Color[Plane];
	for (int32 I = 0; I < Plane; ++I)
	{
		float Rgb[3];
		for (int32 C = 0; C < 3; ++C)
		{
			const double E = FMath::Clamp(double(Encoded[C * Plane + I]), -1.0, 1.0);
			Rgb[C] = float(FMath::Max(FMath::Pow(2.0, (E + 1.0) * 0.5 * Stops + Lo) - EncodingEps, 0.0));
		}
		Texels[I] = FFloat16Color(FLinearColor(Rgb[0], Rgb[1], Rgb[2], 1.f));
	}
	FUpdateTextureRegion2D* Region = new FUpdateTextureRegion2D(0, 0, 0, 0, N, N);
	Target->UpdateTextureRegions(0, 1, Region, N * sizeof(FFloat16Color), sizeof(FFloat16Color), (uint8*)Texels,
		[](uint8* Data, const FUpdateTextureRegion2D* Regions)
		{
			delete[] (FFloat16Color*)Data;
			delete Regions;
		});
}

// DomeParams (skyviewer/shaders/uniforms.glsl) as material parameters; SkyviewerSky.ush packs them back.
void USkyviewerSkyComponent::UpdateMaterial()
{
	const FVector SunUE = GetSunDirection();
	if (SunLight != nullptr && SunSource != ESkyviewerSunSource::DirectionalLight) SunLight->SetWorldRotation((-SunUE).Rotation());
	if (Material == nullptr) return;
	const FVector SunSky = UnrealToSky(SunUE);
	const float Blend = StepSeconds > 0.f ? float(FMath::Min(SinceStep / StepSeconds, 1.0)) : 1.f;
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
