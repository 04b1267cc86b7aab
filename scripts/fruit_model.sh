# The default fruit model's training flags, sourced by scripts/demo.sh and
# the quality benchmarks (bench/finetune_quality.sh, bench/unknown_species.sh):
# EfficientNet-Lite2 (260 px) with its last two blocks and head fine-tuned for
# three epochs on the photo and two augmented variants of each (about 11 min
# on 2 cores for the shared data; BENCHMARKS.md "Right on photos it has
# never seen" has the measurements behind the choice).
# shellcheck disable=SC2034
FRUIT_MODEL_FLAGS=(--model efficientnet_lite2 --fine-tune --tune-epochs 3 --tune-variants 2)
