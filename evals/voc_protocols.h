// The two PASCAL VOC2007 transfer protocols of the paper (DESIGN.md, "Evaluation protocols") and
// their numeric cores, exposed for tests:
//
//   voc07_svm  frozen global-average-pooled features, one-vs-rest linear SVMs (LIBLINEAR), cost
//              chosen per class by k-fold cross-validation on trainval, test mAP (VOC07 11-point
//              classification AP).
//   voc_det    a CenterNet-style single-stage detector ("Objects as Points", Zhou et al. 2019)
//              fine-tuned from the run's backbone, scored with the devkit's VOC07 detection AP.
//
// Both read the genuine VOC2007 layout, so they run on the real release (a path the user gives)
// and on the embedded Fashion-MNIST scene set (`swavbench data make-voc`).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/data/voc.h"
#include "harness/eval/evaluation.h"
#include "harness/models/resnet.h"

namespace swavbench {

// ---- Shared image preparation ------------------------------------------------------------------

// One decoded VOC image as a 1 x channels x H x W uint8 tensor (CPU). A colour image given to a
// grey backbone (pretrained on Fashion-MNIST: in_channels 1) is converted with the ITU-R 601
// luma weights; a grey image given to a colour backbone is repeated over three channels.
torch::Tensor voc_image_tensor(const ImageU8& image, int64_t channels);

// ---- voc07_svm ---------------------------------------------------------------------------------

struct SvmOptions {
  std::vector<double> costs{0.01, 0.1, 1.0, 10.0};  // tried in this order; ties keep the first
  int folds = 3;
  // Weight of the positive class's loss. Goyal et al. 2019's VOC07 SVM benchmark (the one the
  // SwAV paper reports) uses LinearSVC(class_weight={1: 2, -1: 1}).
  double positive_weight = 2.0;
  double eps = 1e-4;  // LIBLINEAR stopping tolerance (LinearSVC's tol)
};

struct SvmClassResult {
  double ap = 0;              // VOC07 11-point AP on the test set, in [0, 1]; NaN: no positives
  double cost = 0;            // the cost chosen by cross-validation
  std::vector<double> cv_ap;  // mean fold AP per cost (NaN where no fold could be scored)
  std::vector<float> scores;  // test decision values (positive = class present)
};

// One class: picks the cost by `options.folds`-fold cross-validation on the training set
// (criterion: mean VOC07 AP over the folds), trains on the whole training set with it
// (L2R_L2LOSS_SVC_DUAL, bias 1) and scores the test set. Labels are the devkit's {1, -1, 0}:
// 0 (the class occurs only as difficult objects) is left out of training and ignored in the AP.
// Features are used as given (N x d float, CPU). The folds are deterministic: positives and
// negatives are dealt round-robin in index order, so every fold sees both when it can.
SvmClassResult train_and_score_svm(const torch::Tensor& train_features,
                                   const std::vector<int>& train_labels,
                                   const torch::Tensor& test_features,
                                   const std::vector<int>& test_labels, const SvmOptions& options);

// ---- voc_det (CenterNet) -----------------------------------------------------------------------

// A box in continuous pixel coordinates of the network input: pixel i covers [i, i + 1), so a
// VOC box (1-based, inclusive) [xmin, xmax] is [xmin - 1, xmax) here.
struct CenterBox {
  int64_t label = 0;
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  float score = 1;
};

struct CenterNetTargets {
  torch::Tensor heatmap;  // C x H x W float: per class the max of the objects' Gaussians
  torch::Tensor size;     // 2 x H x W: (w, h) in output cells at each object's centre cell
  torch::Tensor offset;   // 2 x H x W: centre - floor(centre) in output cells
  torch::Tensor mask;     // H x W: 1 at the centre cells of objects
};

// CenterNet's Gaussian radius for a box of height x width output cells (its gaussian_radius with
// min_overlap 0.7: the largest corner shift keeping IoU >= 0.7), floored at 0.
double centernet_radius(double height, double width, double min_overlap = 0.7);

// Targets of one image with output map out_h x out_w at `stride` input pixels per cell.
CenterNetTargets encode_centernet_targets(const std::vector<CenterBox>& boxes, int64_t num_classes,
                                          int64_t out_h, int64_t out_w, double stride);

// Peaks of `heatmap` (B x C x H x W, probabilities) that are maxima of their 3x3 neighbourhood,
// top `max_detections` per image with score >= `threshold`, each turned into a box from the size
// (B x 2 x H x W, output cells) and offset maps; coordinates in input pixels (CenterBox frame).
std::vector<std::vector<CenterBox>> decode_centernet(const torch::Tensor& heatmap,
                                                     const torch::Tensor& size,
                                                     const torch::Tensor& offset, double stride,
                                                     int64_t max_detections, double threshold);

// CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4) on logits, normalised by
// the number of objects (peaks equal to 1).
torch::Tensor centernet_focal_loss(const torch::Tensor& logits, const torch::Tensor& target);

// ---- Protocols ---------------------------------------------------------------------------------

EvalProtocol voc07_svm_protocol();
EvalProtocol voc_det_protocol();

}  // namespace swavbench
