# A batch pipeline over psytrack-fit with GNU make: simulate several learners, fit each one,
# draw each fit, and collect the log evidences from the tools' JSON lines.
#
#   cd examples && make -f pipeline.mk -j4          # after `make build` in the source tree
#   make -f pipeline.mk SUBJECTS="sim1 sim2" SIM_N=2000
#   make -f pipeline.mk PSYTRACK=/usr/local/bin/psytrack-fit OUT=/scratch/run1
#
# Every tool writes its output atomically (a failed run leaves nothing behind) and prints one
# JSON line, kept next to each output as <name>.json. .DELETE_ON_ERROR removes a target whose
# recipe failed after creating it (here: the summary table). Needs jq.

PSYTRACK ?= ../build/bin/psytrack-fit
OUT ?= out

# Subjects simN are simulated with --seed N.
SUBJECTS ?= sim1 sim2 sim3 sim4
SIM_N ?= 5000
SIM_K ?= 3
SESSION_LENGTH ?= 500

# Fit: sigma and sigDay per weight by evidence. CONFIG, if set, is a YAML file given with -c.
CONFIG ?=
FIT_FLAGS ?= --set 'hyper.sigDay=[0.5]' --set 'opt=[sigma,sigDay]'
# One thread per job: `make -j` runs the jobs in parallel.
THREADS ?= 1

SIMS := $(SUBJECTS:%=$(OUT)/sims/%.h5)
FITS := $(SUBJECTS:%=$(OUT)/fits/%.h5)
PLOTS := $(SUBJECTS:%=$(OUT)/plots/%.svg)

.DELETE_ON_ERROR:
.PHONY: all sims fits plots clean

all: $(PLOTS) $(OUT)/log_evidence.tsv $(OUT)/all_fits.h5

sims: $(SIMS)
fits: $(FITS)
plots: $(PLOTS)

$(OUT)/sims $(OUT)/fits $(OUT)/plots:
	mkdir -p $@

# The seed comes from the subject's name: sim7 -> --seed 7.
$(OUT)/sims/%.h5: | $(OUT)/sims
	$(PSYTRACK) simulate --seed $(patsubst sim%,%,$*) --set simulate.N=$(SIM_N) \
	  --set simulate.K=$(SIM_K) --set simulate.session_length=$(SESSION_LENGTH) \
	  -q --force -o $@ > $(@:.h5=.json)

$(OUT)/fits/%.h5: $(OUT)/sims/%.h5 $(CONFIG) | $(OUT)/fits
	$(PSYTRACK) fit -i $< $(if $(CONFIG),-c $(CONFIG)) $(FIT_FLAGS) -t $(THREADS) \
	  -q --force -o $@ > $(@:.h5=.json)

$(OUT)/plots/%.svg: $(OUT)/fits/%.h5 | $(OUT)/plots
	$(PSYTRACK) plot -i $< --source $(OUT)/sims/$*.h5 -q --force -o $@ > $(@:.svg=.json)

# One row per subject: id, status, log evidence, log2 sigma per weight.
$(OUT)/log_evidence.tsv: $(FITS)
	printf 'id\tstatus\tlog_evidence\tlog2_sigma\n' > $@
	jq -r '.subjects[] | [.id, .status, .log_evidence, (.log2_sigma | map(tostring) | join(","))] | @tsv' \
	  $(FITS:.h5=.json) >> $@

# All fits in one file (same command and configuration, distinct subject ids).
$(OUT)/all_fits.h5: $(FITS)
	$(PSYTRACK) merge $(addprefix -i ,$^) -q --force -o $@ > $(@:.h5=.json)

clean:
	rm -rf $(OUT)
