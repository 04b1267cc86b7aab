# The default fruit model, sourced by scripts/demo.sh and the quality
# benchmarks (bench/finetune_quality.sh, bench/unknown_species.sh).
# BENCHMARKS.md "Right on photos it has never seen" has the measurements
# behind each choice.
#
# 1. EfficientNet-Lite2 (260 px), its last three blocks and head fine-tuned
#    for three epochs on each photo and two augmented variants of it, the
#    last epoch kept and mixed 0.7 / 0.3 with the parent's weights (the
#    default --tune-mix; about 13.5 min on 2 cores for the shared data);
# 2. for cheaper serving, that model quantized to int8, calibrated on the
#    shop photos (about 1.5 min): as fast as MobileNetV2 in fp32, a few points
#    less accurate on photos of other visits;
# 3. a classifier fitted on the int8 model's features of the same photos and
#    variants (about 1.5 min).
# shellcheck disable=SC2034
FRUIT_MODEL_FLAGS=(--model efficientnet_lite2 --fine-tune --tune-blocks 3 --tune-epochs 3 --tune-variants 2)

# train_fruit_model ORCHARD DATA BUNDLE TUNED_NAME [train flags, e.g. --validate DIR]
# writes BUNDLE (the fine-tuned fp32 model's) and BUNDLE-int8, and installs
# the models TUNED_NAME and TUNED_NAME-int8.
train_fruit_model() {
  local orchard=$1 data=$2 bundle=$3 name=$4
  shift 4
  local inputs=("$data/fruits360-species" "$data/grocery-store-train")
  printf '\n== orchard train %s --classifier %s %s --tuned-model %s %s\n' \
    "${inputs[*]}" "$bundle" "${FRUIT_MODEL_FLAGS[*]}" "$name" "$*" >&2
  "$orchard" train "${inputs[@]}" --classifier "$bundle" "${FRUIT_MODEL_FLAGS[@]}" --tuned-model "$name" "$@"
  printf '\n== orchard model quantize %s --calibrate %s\n' "$name" "$data/grocery-store-train" >&2
  "$orchard" model quantize "$name" --calibrate "$data/grocery-store-train" --output "$name-int8"
  printf '\n== orchard train %s --classifier %s-int8 --model %s-int8 --augment 2 %s\n' \
    "${inputs[*]}" "$bundle" "$name" "$*" >&2
  "$orchard" train "${inputs[@]}" --classifier "$bundle-int8" --model "$name-int8" --augment 2 "$@"
}

# train_bench ORCHARD DATA BUNDLE TUNED_NAME VALIDATE_DIR [FLAG...]
# for the quality benchmarks: FLAG `default` trains the default fruit model
# (train_fruit_model, with the flags after it); other flags (or none) go to
# one `orchard train` of DATA's two training folders. Prints the seconds it
# took.
train_bench() {
  local orchard=$1 data=$2 bundle=$3 name=$4 validate=$5 start
  shift 5
  start=$(date +%s)
  if [ "${1:-}" = default ]; then
    train_fruit_model "$orchard" "$data" "$bundle" "$name" --validate "$validate" "${@:2}"
  else
    "$orchard" train "$data/fruits360-species" "$data/grocery-store-train" \
      --classifier "$bundle" --validate "$validate" "$@"
  fi
  echo "train took $(( $(date +%s) - start )) s"
}
