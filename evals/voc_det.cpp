// VOC07 detection transfer (the paper's Table 3 "VOC07+12 detection" row, scaled down).
//
// The paper fine-tunes a Faster R-CNN R50-C4 (Detectron2). We fine-tune a CenterNet-style
// single-stage detector instead ("Objects as Points", Zhou et al. 2019): a heatmap of object
// centres per class, a (w, h) size and a sub-cell offset at each centre, decoded by 3x3 max-pool
// peak extraction without NMS. It is small enough to train on a CPU, and every initialisation
// (SwAV, supervised, random) gets the same detector and schedule, so the comparison between
// them is on equal terms even though the absolute numbers are not the paper's.
//
// Detections go through the same path as any external detector's: devkit results files
// (comp4_det_<split>_<class>.txt), read back and scored by voc_map against the test annotations.
#include <stdlib.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "evals/protocol_specs.h"
#include "evals/voc_map.h"
#include "evals/voc_protocols.h"
#include "harness/core/check.h"
#include "harness/data/loader.h"
#include "harness/data/multicrop.h"

namespace swavbench {

namespace F = torch::nn::functional;

double centernet_radius(double height, double width, double min_overlap) {
  // CenterNet's gaussian_radius (from CornerNet): three cases of how the two corners may move
  // while the IoU with the true box stays >= min_overlap; the smallest root is safe for all.
  const double b1 = height + width;
  const double c1 = width * height * (1 - min_overlap) / (1 + min_overlap);
  const double r1 = (b1 + std::sqrt(b1 * b1 - 4 * c1)) / 2;
  const double a2 = 4, b2 = 2 * (height + width), c2 = (1 - min_overlap) * width * height;
  const double r2 = (b2 + std::sqrt(b2 * b2 - 4 * a2 * c2)) / 2;
  const double a3 = 4 * min_overlap, b3 = -2 * min_overlap * (height + width);
  const double c3 = (min_overlap - 1) * width * height;
  const double r3 = (b3 + std::sqrt(b3 * b3 - 4 * a3 * c3)) / 2;
  return std::max(0.0, std::min({r1, r2, r3}));
}

CenterNetTargets encode_centernet_targets(const std::vector<CenterBox>& boxes, int64_t num_classes,
                                          int64_t out_h, int64_t out_w, double stride) {
  CenterNetTargets t;
  t.heatmap = torch::zeros({num_classes, out_h, out_w});
  t.size = torch::zeros({2, out_h, out_w});
  t.offset = torch::zeros({2, out_h, out_w});
  t.mask = torch::zeros({out_h, out_w});
  auto heat = t.heatmap.accessor<float, 3>();
  auto size = t.size.accessor<float, 3>();
  auto offset = t.offset.accessor<float, 3>();
  auto mask = t.mask.accessor<float, 2>();
  for (const CenterBox& box : boxes) {
    SB_CHECK(box.label >= 0 && box.label < num_classes, "box label {} out of range", box.label);
    const double w = (box.x1 - box.x0) / stride, h = (box.y1 - box.y0) / stride;
    if (w <= 0 || h <= 0) continue;
    const double cx = (box.x0 + box.x1) / (2 * stride), cy = (box.y0 + box.y1) / (2 * stride);
    const int64_t ix = std::clamp<int64_t>(static_cast<int64_t>(std::floor(cx)), 0, out_w - 1);
    const int64_t iy = std::clamp<int64_t>(static_cast<int64_t>(std::floor(cy)), 0, out_h - 1);
    // Gaussian of CenterNet's draw_umich_gaussian: integer radius, sigma = diameter / 6, merged
    // with the class's other objects by max, exactly 1 at the centre cell.
    const int64_t radius = static_cast<int64_t>(centernet_radius(h, w));
    const double sigma = (2.0 * radius + 1) / 6.0;
    for (int64_t y = std::max<int64_t>(0, iy - radius); y <= std::min(out_h - 1, iy + radius); ++y)
      for (int64_t x = std::max<int64_t>(0, ix - radius); x <= std::min(out_w - 1, ix + radius);
           ++x) {
        const double d2 = static_cast<double>((x - ix) * (x - ix) + (y - iy) * (y - iy));
        const auto g = static_cast<float>(std::exp(-d2 / (2 * sigma * sigma)));
        heat[box.label][y][x] = std::max(heat[box.label][y][x], g);
      }
    size[0][iy][ix] = static_cast<float>(w);
    size[1][iy][ix] = static_cast<float>(h);
    offset[0][iy][ix] = static_cast<float>(cx - ix);
    offset[1][iy][ix] = static_cast<float>(cy - iy);
    mask[iy][ix] = 1;
  }
  return t;
}

std::vector<std::vector<CenterBox>> decode_centernet(const torch::Tensor& heatmap,
                                                     const torch::Tensor& size,
                                                     const torch::Tensor& offset, double stride,
                                                     int64_t max_detections, double threshold) {
  torch::NoGradGuard no_grad;
  SB_CHECK(heatmap.dim() == 4, "heatmap must be B x C x H x W");
  // A peak is a cell equal to the max of its 3x3 neighbourhood (CenterNet's _nms).
  torch::Tensor heat = heatmap.to(torch::kCPU, torch::kFloat);
  torch::Tensor pooled = F::max_pool2d(heat, F::MaxPool2dFuncOptions(3).stride(1).padding(1));
  heat = heat * pooled.eq(heat).to(torch::kFloat);
  const int64_t batch = heat.size(0), h = heat.size(2), w = heat.size(3);
  const int64_t k = std::min(max_detections, heat.size(1) * h * w);
  auto top = heat.reshape({batch, -1}).topk(k, /*dim=*/1);
  torch::Tensor scores = std::get<0>(top), indices = std::get<1>(top);
  torch::Tensor sizes = size.to(torch::kCPU, torch::kFloat).contiguous();
  torch::Tensor offsets = offset.to(torch::kCPU, torch::kFloat).contiguous();
  auto s = sizes.accessor<float, 4>();
  auto o = offsets.accessor<float, 4>();
  auto sc = scores.accessor<float, 2>();
  auto ix = indices.accessor<int64_t, 2>();
  std::vector<std::vector<CenterBox>> out(batch);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = 0; j < k; ++j) {
      if (sc[b][j] < threshold) break;  // sorted descending
      const int64_t index = ix[b][j], cell = index % (h * w);
      const int64_t y = cell / w, x = cell % w;
      const float cx = static_cast<float>(x) + o[b][0][y][x];
      const float cy = static_cast<float>(y) + o[b][1][y][x];
      const float bw = std::max(0.0f, s[b][0][y][x]), bh = std::max(0.0f, s[b][1][y][x]);
      const auto st = static_cast<float>(stride);
      out[b].push_back({index / (h * w), (cx - bw / 2) * st, (cy - bh / 2) * st, (cx + bw / 2) * st,
                        (cy + bh / 2) * st, sc[b][j]});
    }
  }
  return out;
}

torch::Tensor centernet_focal_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  // CenterNet's _neg_loss with its clamped sigmoid: positives (target == 1) weigh
  // (1 - p)^alpha log p, the rest (1 - target)^beta p^alpha log(1 - p), alpha 2, beta 4.
  torch::Tensor p = torch::sigmoid(logits).clamp(1e-4, 1 - 1e-4);
  torch::Tensor pos = target.eq(1).to(p.scalar_type());
  torch::Tensor neg_weight = (1 - target).pow(4) * (1 - pos);
  torch::Tensor pos_loss = (torch::log(p) * (1 - p).pow(2) * pos).sum();
  torch::Tensor neg_loss = (torch::log(1 - p) * p.pow(2) * neg_weight).sum();
  return -(pos_loss + neg_loss) / pos.sum().clamp_min(1);
}

namespace {

// The detector: the fine-tuned backbone's layer4 maps (bilinearly upsampled to stride 8 when the
// backbone's stride is coarser, e.g. the ImageNet stem's 32) and CenterNet's three heads, each a
// 3x3 conv to 64 channels + ReLU + a 1x1 conv.
class CenterNetImpl : public torch::nn::Module {
 public:
  CenterNetImpl(ResNet backbone, int64_t num_classes, int64_t upsample_to)
      : backbone_(register_module("backbone", std::move(backbone))), upsample_to_(upsample_to) {
    const int64_t d = backbone_->feature_dim();
    auto branch = [d](int64_t out) {
      return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(d, 64, 3).padding(1)),
                                   torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)),
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(64, out, 1)));
    };
    heat_ = register_module("heat", branch(num_classes));
    size_ = register_module("size", branch(2));
    offset_ = register_module("offset", branch(2));
    torch::NoGradGuard no_grad;
    // Heatmap bias -2.19 = -log((1 - 0.1) / 0.1): every cell starts at probability 0.1, so the
    // focal loss of the many background cells does not swamp the first steps (CenterNet).
    (*heat_)[2]->as<torch::nn::Conv2d>()->bias.fill_(-2.19);
  }

  // Returns {heatmap logits, size, offset}, each B x ? x h x w.
  std::vector<torch::Tensor> forward(torch::Tensor x) {
    torch::Tensor maps = backbone_->forward_maps(x);
    if (upsample_to_ > 0 && maps.size(2) != upsample_to_)
      maps = F::interpolate(maps, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{upsample_to_, upsample_to_})
                                      .mode(torch::kBilinear)
                                      .align_corners(false));
    return {heat_->forward(maps), size_->forward(maps), offset_->forward(maps)};
  }

 private:
  ResNet backbone_;
  torch::nn::Sequential heat_{nullptr}, size_{nullptr}, offset_{nullptr};
  int64_t upsample_to_;
};
TORCH_MODULE(CenterNet);

// A deep copy: the detector fine-tunes its own weights and leaves the run's backbone untouched.
ResNet copy_backbone(ResNet source) {
  ResNet copy(source->options());
  torch::NoGradGuard no_grad;
  auto params = copy->named_parameters(/*recurse=*/true);
  for (const auto& item : source->named_parameters(/*recurse=*/true))
    params[item.key()].copy_(item.value());
  auto buffers = copy->named_buffers(/*recurse=*/true);
  for (const auto& item : source->named_buffers(/*recurse=*/true))
    buffers[item.key()].copy_(item.value());
  return copy;
}

// A split resized to image_size x image_size (anisotropically, so boxes scale per axis), its
// non-difficult objects as targets in the network's input frame, and the factors back.
struct DetSplit {
  torch::Tensor images;                          // N x C x S x S uint8, CPU
  std::vector<std::vector<CenterBox>> boxes;     // input-frame boxes, non-difficult objects only
  std::vector<std::pair<double, double>> scale;  // (W / S, H / S) of each original image
};

DetSplit prepare_split(const VocDataset& data, int image_size, int64_t channels) {
  DetSplit split;
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < data.size(); ++i) {
    torch::Tensor img = voc_image_tensor(data.image(i), channels);
    const VocAnnotation& a = data.annotation(i);
    if (img.size(2) != image_size || img.size(3) != image_size)
      img = F::interpolate(img.to(torch::kFloat),
                           F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{image_size, image_size})
                               .mode(torch::kBilinear)
                               .align_corners(false))
                .round()
                .clamp(0, 255)
                .to(torch::kUInt8);
    images.push_back(img);
    const double sx = static_cast<double>(a.width) / image_size;
    const double sy = static_cast<double>(a.height) / image_size;
    split.scale.emplace_back(sx, sy);
    std::vector<CenterBox> boxes;
    for (const VocObject& obj : a.objects) {
      // Difficult objects are neither targets nor (in voc_map) counted against the detector.
      if (obj.difficult) continue;
      boxes.push_back({data.class_index(obj.name), static_cast<float>((obj.xmin - 1) / sx),
                       static_cast<float>((obj.ymin - 1) / sy), static_cast<float>(obj.xmax / sx),
                       static_cast<float>(obj.ymax / sy), 1.0f});
    }
    split.boxes.push_back(std::move(boxes));
  }
  split.images = torch::cat(images);
  return split;
}

// splitmix64: the per-sample flip bit from (seed, epoch, sample), independent of batch layout.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string make_detections_dir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "swavbench_voc_det_XXXXXX").string();
  SB_CHECK(mkdtemp(pattern.data()) != nullptr, "cannot create a folder from {}", pattern);
  return pattern;
}

}  // namespace

EvalProtocol voc_det_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(voc_det_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const std::string root = o["root"].get<std::string>();
    SB_INPUT_CHECK(!root.empty(),
                   "voc_det: option 'root' is empty: run `swavbench data make-voc --out DIR` and "
                   "pass root = DIR, or pass the path of a VOC2007 release (the folder with "
                   "JPEGImages/, Annotations/ and ImageSets/)");
    const int epochs = o["epochs"].get<int>();
    const double lr = o["lr"].get<double>();
    const int64_t batch_size = o["batch_size"].get<int64_t>();
    const int image_size = o["image_size"].get<int>();
    const int64_t max_detections = o["max_detections"].get<int64_t>();
    const double threshold = o["score_threshold"].get<double>();
    const uint64_t seed = o["seed"].get<uint64_t>();
    SB_INPUT_CHECK(
        epochs >= 1 && lr > 0 && batch_size >= 1 && image_size >= 16 && max_detections >= 1,
        "voc_det: need epochs >= 1, lr > 0, batch_size >= 1, image_size >= 16 and "
        "max_detections >= 1");

    const std::vector<std::string> classes = read_voc_classes(root);
    const auto num_classes = static_cast<int64_t>(classes.size());
    VocDataset train(root, o["train_split"].get<std::string>(), classes);
    VocDataset test(root, o["test_split"].get<std::string>(), classes);
    SB_INPUT_CHECK(train.size() > 0 && test.size() > 0, "voc_det: {}: an empty split", root);

    ResNet source = ctx.method.backbone();
    const int64_t channels = source->options().in_channels;
    ResNet backbone = copy_backbone(source);
    backbone->to(ctx.device);
    // The backbone's own output stride at this image size decides whether to upsample.
    int64_t map_size = 0;
    {
      torch::NoGradGuard no_grad;
      backbone->eval();
      map_size = backbone
                     ->forward_maps(torch::zeros({1, channels, image_size, image_size},
                                                 torch::TensorOptions().device(ctx.device)))
                     .size(2);
    }
    int64_t out_size = map_size, upsample_to = 0;
    if (static_cast<double>(image_size) / map_size > 8.0) {
      out_size = (image_size + 7) / 8;
      upsample_to = out_size;
    }
    const double stride = static_cast<double>(image_size) / out_size;

    torch::manual_seed(seed);  // the heads' initialisation
    CenterNet model(backbone, num_classes, upsample_to);
    model->to(ctx.device);
    // Adam over the whole detector, as CenterNet trains (it uses 1.25e-4 at batch 32 on 512 px;
    // our default 1e-3 suits the short CPU schedule), lr x0.1 for the last quarter of the epochs
    // (CenterNet's step schedule).
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(lr));
    const int drop_epoch = epochs >= 4 ? (3 * epochs + 3) / 4 : epochs;

    DetSplit train_data = prepare_split(train, image_size, channels);
    const AugmentOptions norm = AugmentOptions::none();
    double last_loss = 0;
    model->train();
    for (int epoch = 0; epoch < epochs; ++epoch) {
      for (auto& group : optimizer.param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(epoch >= drop_epoch ? lr * 0.1 : lr);
      std::vector<int64_t> order = epoch_order(train.size(), seed, epoch, /*shuffle=*/true);
      double loss_sum = 0;
      int64_t steps = 0;
      for (int64_t begin = 0; begin < train.size(); begin += batch_size) {
        const int64_t end = std::min<int64_t>(train.size(), begin + batch_size);
        std::vector<torch::Tensor> images, heat, size, offset, mask;
        for (int64_t j = begin; j < end; ++j) {
          const int64_t i = order[j];
          torch::Tensor image = train_data.images[i];
          std::vector<CenterBox> boxes = train_data.boxes[i];
          // Horizontal flip with p 0.5, CenterNet's only augmentation we keep.
          if (mix(seed ^ mix(static_cast<uint64_t>(epoch) ^ mix(static_cast<uint64_t>(i)))) >> 63) {
            image = image.flip({2});
            for (CenterBox& b : boxes) {
              const float x0 = b.x0;
              b.x0 = static_cast<float>(image_size) - b.x1;
              b.x1 = static_cast<float>(image_size) - x0;
            }
          }
          CenterNetTargets t =
              encode_centernet_targets(boxes, num_classes, out_size, out_size, stride);
          images.push_back(image);
          heat.push_back(t.heatmap);
          size.push_back(t.size);
          offset.push_back(t.offset);
          mask.push_back(t.mask.unsqueeze(0));
        }
        torch::Tensor x = center_crop_normalize(torch::stack(images).to(ctx.device), image_size,
                                                image_size, norm);
        std::vector<torch::Tensor> out = model->forward(x);
        torch::Tensor m = torch::stack(mask).to(ctx.device);
        const torch::Tensor denom = 2 * m.sum() + 1e-4;  // CenterNet's RegL1Loss normalisation
        torch::Tensor loss =
            centernet_focal_loss(out[0], torch::stack(heat).to(ctx.device)) +
            0.1 * ((out[1] - torch::stack(size).to(ctx.device)).abs() * m).sum() / denom +
            ((out[2] - torch::stack(offset).to(ctx.device)).abs() * m).sum() / denom;
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>();
        ++steps;
      }
      last_loss = loss_sum / std::max<int64_t>(1, steps);
    }

    // Inference on test: no augmentation, boxes back to the original image's VOC coordinates.
    model->eval();
    DetSplit test_data = prepare_split(test, image_size, channels);
    std::map<std::string, std::vector<Detection>> detections;
    for (const std::string& name : classes) detections[name];
    {
      torch::NoGradGuard no_grad;
      for (int64_t begin = 0; begin < test.size(); begin += batch_size) {
        const int64_t end = std::min<int64_t>(test.size(), begin + batch_size);
        torch::Tensor x = center_crop_normalize(
            test_data.images.slice(0, begin, end).to(ctx.device), image_size, image_size, norm);
        std::vector<torch::Tensor> out = model->forward(x);
        auto boxes = decode_centernet(torch::sigmoid(out[0]), out[1], out[2], stride,
                                      max_detections, threshold);
        for (int64_t b = 0; b < end - begin; ++b) {
          const VocAnnotation& a = test.annotation(begin + b);
          const auto [sx, sy] = test_data.scale[begin + b];
          const auto w = static_cast<float>(a.width), h = static_cast<float>(a.height);
          for (const CenterBox& box : boxes[b]) {
            // [x0, x1) in input pixels -> 1-based inclusive [x0 + 1, x1], clipped to the image.
            Detection d;
            d.image_id = a.image_id;
            d.score = box.score;
            // In float, as before Detection held doubles: the scores stay bit-identical.
            const float xmin = std::clamp(static_cast<float>(box.x0 * sx) + 1, 1.0f, w);
            const float ymin = std::clamp(static_cast<float>(box.y0 * sy) + 1, 1.0f, h);
            d.xmin = xmin;
            d.ymin = ymin;
            d.xmax = std::clamp(static_cast<float>(box.x1 * sx), xmin, w);
            d.ymax = std::clamp(static_cast<float>(box.y1 * sy), ymin, h);
            detections[classes[box.label]].push_back(d);
          }
        }
      }
    }
    std::string dir = o["detections_dir"].get<std::string>();
    if (dir.empty()) dir = make_detections_dir();
    write_devkit_detections(dir, test.split(), detections);
    // Scored from the files, as an external detector's results would be.
    MapResult map =
        voc_map(test.annotations(), classes, read_devkit_detections(dir, test.split(), classes));
    SB_INPUT_CHECK(!std::isnan(map.map_11point),
                   "voc_det: no class has a non-difficult object in split '{}'", test.split());

    EvalResult result;
    result.metrics = {{"map_11point", 100.0 * map.map_11point}, {"map_area", 100.0 * map.map_area}};
    nlohmann::json per_class = nlohmann::json::object();
    int64_t n_detections = 0;
    for (const auto& [name, ap] : map.per_class) {
      n_detections += ap.detections;
      if (std::isnan(ap.ap_11point)) continue;
      per_class[name] = {{"ap_11point", 100.0 * ap.ap_11point},
                         {"ap_area", 100.0 * ap.ap_area},
                         {"positives", ap.positives}};
    }
    result.card = {
        {"protocol", "voc_det"},
        {"root", root},
        {"train_split", train.split()},
        {"test_split", test.split()},
        {"n_train", train.size()},
        {"n_test", test.size()},
        {"detector",
         fmt::format("CenterNet-style (Zhou et al. 2019) instead of the paper's Faster R-CNN "
                     "R50-C4: backbone fine-tuned (a copy), layer4 maps at stride {}{}, heads 3x3 "
                     "conv 64 + ReLU + 1x1 (heatmap {} classes, bias -2.19; size; offset); focal "
                     "loss alpha 2 beta 4 on Gaussian targets + 0.1 L1 size + L1 offset",
                     stride, upsample_to > 0 ? " (bilinear upsampling)" : "", num_classes)},
        {"decoding", fmt::format("3x3 max-pool peaks, top {} per image, score >= {}, no NMS",
                                 max_detections, threshold)},
        {"targets", "non-difficult objects; difficult ones ignored by the AP"},
        {"epochs", epochs},
        {"optimizer", "adam"},
        {"lr", lr},
        {"lr_schedule", fmt::format("x0.1 from epoch {}", drop_epoch)},
        {"batch_size", batch_size},
        {"image_size", image_size},
        {"augmentation", "horizontal flip"},
        {"seed", seed},
        {"final_train_loss", last_loss},
        {"detections_dir", dir},
        {"n_detections", n_detections},
        {"ap_per_class", per_class},
        {"skipped_classes", map.skipped_classes},
        {"metric", "VOC07 AP at IoU 0.5 (11-point and area), devkit rules"}};
    return result;
  };
  return p;
}

}  // namespace swavbench
