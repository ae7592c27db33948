// RunConfig: the one place that owns every pretraining option, its default and its validation
// (in the spirit of fb.resnet.torch's opts.lua). Torch-free.
//
// Resolution order: built-in defaults <- the method's defaults <- the script's table <- --set.
// Unknown keys are errors that name the key and the closest valid key. The resolved config,
// serialised as canonical JSON (sorted keys) plus its method's code digest, hashes to the run's id.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/core/crops.h"

namespace swavbench {

// Keys that change how a run executes or what it logs, never what it learns: two configs that
// differ only in these are the same run.
inline const std::vector<std::string> kNonIdentityKeys{"workers", "prefetch", "knn_every"};

// The method a config names when it names none: the registered method whose spec says it is the
// default (MethodSpec::is_default; SwAV's folder marks its own); "" while none is registered.
// Defined with the registry (method_spec.cpp).
std::string default_method_name();

struct RunConfig {
  // What to train: a registered method (MethodSpec, harness/core/method_spec.h).
  std::string method = default_method_name();
  std::string arch = "resnet10";
  double width = 0.25;  // multiplier on the base width 64
  bool small_stem = true;

  // Data.
  std::string dataset = "fashion-mnist";  // fashion-mnist | cifar10 | imagefolder
  std::string data_path;                  // empty: the dataset's default location
  int64_t subset = 0;                     // training images used (class-balanced); 0 = all
  int load_size = 0;                      // imagefolder: decode to this square size
  std::vector<CropSpec> crops{{2, 28, 0.3, 1.0}, {4, 14, 0.1, 0.3}};
  std::vector<int64_t> crops_for_assign{0, 1};
  // swav: the full recipe (crop, flip, colour jitter, grayscale, blur); jitter: without
  // grayscale and blur; light: crop + flip; none: crop only.
  std::string augment = "swav";

  // Optimisation (per-iteration schedule, as main_swav.py).
  int batch_size = 256;
  int epochs = 5;
  std::string optimizer = "sgd";  // sgd | lars
  double base_lr = 0.3;
  double final_lr = 0.0003;
  double start_warmup = 0.0;
  int warmup_epochs = 0;
  double momentum = 0.9;
  double weight_decay = 1e-6;
  double trust_coefficient = 0.001;
  bool lars_exclude_bn_bias = false;

  // Heads and method hyper-parameters.
  int hidden_dim = 256;  // projection head hidden width (0: linear head)
  int feat_dim = 64;     // embedding dimension (the paper's 128)
  double temperature = 0.1;
  double epsilon = 0.05;  // Sinkhorn entropy regularisation
  int sinkhorn_iters = 3;
  int prototypes = 100;            // K
  bool freeze_prototypes = false;  // fixed random prototypes (the paper's ablation)
  // Prototype freezing (main_swav.py's freeze_prototypes_niters): the prototypes get no gradient
  // for the first iterations. The authors freeze for one epoch at every batch size (313
  // iterations at 4096, 5005 at 256: ImageNet's 1.28M images / batch), so the unit is the epoch:
  // freeze_prototypes_epochs x the run's iterations per epoch (rounded), unless
  // freeze_prototypes_iters >= 0 gives the count itself (it wins; -1 = unset).
  int freeze_prototypes_iters = -1;
  double freeze_prototypes_epochs = 1.0;
  int queue_length = 0;  // 0: no queue
  int queue_start_epoch = 15;
  double moco_momentum = 0.999;
  int moco_queue = 4096;
  // MoCo's shuffling BN: samples per BatchNorm group (baselines/shuffle_bn.h); 0 = the authors'
  // 32 per GPU, or less where the batch is too small for two groups of 32.
  int moco_bn_group = 0;

  // Collapse alarm: loss within collapse_margin of ln(K) for collapse_patience epochs.
  double collapse_margin = 0.02;
  int collapse_patience = 2;
  bool collapse_stop = false;

  // Distributed runs: BatchNorm over the global batch (SyncBatchNorm), as the paper trains SwAV
  // (and SimCLR trains); with one process it changes nothing. With it on, a run with N processes
  // follows the single-process run with the same global batch, which is why the number of
  // processes is not part of the hash. Off, each rank normalises its own samples.
  bool sync_bn = true;

  // Execution (not part of what is learned, but part of the hash: a CPU and a CUDA run are
  // different measurements).
  int64_t seed = 0;
  std::string device = "cpu";  // cpu | cuda
  // fp32 | bf16 (autocast: convolutions and matrix products in bfloat16 over float32 weights; on
  // a CPU only where it has AVX512-BF16 or AMX, checked when the run trains) | fp64 (a float64
  // reference run: training arithmetic whose rounding is far below float32's, for checking
  // numerics; evaluations run in float32)
  std::string precision = "fp32";
  // Activation and weight layout of the convolutions: channels_last (NHWC) or contiguous (NCHW).
  // "auto" is channels_last on CUDA (tensor cores) and contiguous on the CPU, where NHWC is
  // faster but LibTorch 1.13's NHWC gradients are less accurate (README, "GPUs and LibTorch
  // versions"; tests/unit/test_memory_format.cpp).
  std::string memory_format = "auto";
  int workers = 1;    // loader threads decoding images
  int prefetch = 2;   // batches prepared ahead
  int knn_every = 1;  // kNN monitor every N epochs (0 = off), logged in epoch rows

  nlohmann::json to_json() const;
  // Hash of the canonical JSON and its method's code digest (hex sha256, first 16 chars),
  // without the keys that cannot change what is learned (kNonIdentityKeys). The digest covers
  // the shared training code and the method's own (method_code_digest, core/method_spec.h), as
  // built, so a run cached by an older build of that code is not reused, and an edit to another
  // method's code leaves it cached.
  std::string hash() const;
  std::string hash_with_code_digest(const std::string& code_digest) const;
  int64_t total_crops() const;
};

// The run's identity: config.hash(), extended with the world size only when a multi-process run
// normalises per rank (sync_bn off), the one case where the number of processes changes what is
// learned.
std::string run_hash(const RunConfig& config, int world_size);

// Keys accepted in a config table, with one-line docs (for --list-keys and error messages).
struct ConfigKeyDoc {
  std::string key;
  std::string type;
  std::string doc;
};
// Built on each call: the method key lists the methods registered so far.
std::vector<ConfigKeyDoc> config_key_docs();
std::vector<std::string> config_keys();

// Builds a RunConfig from `table` (a JSON object) over the defaults of its method, then applies
// `overrides` (from --set). Throws InputError naming `where` and the key for an unknown key, a
// wrong type or an out-of-range value.
RunConfig resolve_config(const nlohmann::json& table, const nlohmann::json& overrides,
                         const std::string& where);

// Checks cross-key constraints (crop indices, sizes, divisibility); throws InputError.
void validate_config(const RunConfig& config, const std::string& where);

// Parses a --set value: JSON when it parses (numbers, true/false, arrays, objects), else string.
nlohmann::json parse_set_value(const std::string& text);

// Named presets (the paper's ImageNet recipes, the Fashion-MNIST default) as config tables.
nlohmann::json config_preset(const std::string& name, const std::string& where);
std::vector<std::string> config_preset_names();

// The iterations during which a run's prototypes are frozen: freeze_prototypes_iters when it is
// set (>= 0), else freeze_prototypes_epochs x iterations_per_epoch, rounded to the nearest.
int64_t prototype_freeze_iterations(const RunConfig& config, int64_t iterations_per_epoch);

// Whether a run on this device type trains in channels_last (memory_format "auto": on CUDA only).
bool trains_channels_last(const RunConfig& config, bool cuda);

}  // namespace swavbench
