#!/bin/bash
# Fit many subjects with a Slurm job array: task I of the array fits the I-th contiguous block of
# subjects (--shard slurm reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT) into
# part_I.h5; a dependent job merges the parts into the file one run would have written.
#
#   jid=$(sbatch --parsable examples/slurm_array.sh)
#   sbatch --dependency=afterok:$jid --wrap \
#     'psytrack-fit merge -i part_0.h5 -i part_1.h5 -i part_2.h5 -i part_3.h5 -o all.h5'
#
# Keep the array dense (0-N or 1-N, no step or list): the shard index is the task id minus the
# array's first id. Every task must see the same inputs in the same order and the same config.
#SBATCH --job-name=psytrack-fit
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=psytrack-fit_%A_%a.log

set -euo pipefail

PSYTRACK=${PSYTRACK:-psytrack-fit}
SUBJECT_DIR=${SUBJECT_DIR:-subjects}
CONFIG=${CONFIG:-}  # e.g. configs/psytrack-fit/rat_tutorial.yaml; none: the inputs' weights

# A fixed collation, so the glob lists the files in the same order on every node.
export LC_ALL=C
inputs=()
for f in "$SUBJECT_DIR"/*.h5; do inputs+=(-i "$f"); done
config=()
if [[ -n $CONFIG ]]; then config=(-c "$CONFIG"); fi

# Threads: SLURM_CPUS_PER_TASK is picked up automatically (-t 0). The JSON line goes to
# part_I.json; logs go to the Slurm log. Without --force an existing part is never overwritten
# (exit 73): delete old parts before resubmitting.
"$PSYTRACK" fit "${inputs[@]}" ${config[@]+"${config[@]}"} --shard slurm \
  -o "part_${SLURM_ARRAY_TASK_ID}.h5" > "part_${SLURM_ARRAY_TASK_ID}.json"
