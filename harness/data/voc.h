// The PASCAL VOC2007 layout, read and written without torch.
//
//   <root>/JPEGImages/<id>.jpg
//   <root>/Annotations/<id>.xml             devkit XML: <size>, one <object> per box
//   <root>/ImageSets/Main/<split>.txt       one id per line; split in train|val|trainval|test
//   <root>/ImageSets/Main/<class>_<split>.txt   "<id> <label>", label 1 / -1 / 0 (only difficult)
//   <root>/classes.txt                      optional (ours): class names, one per line
//
// The reader serves the genuine VOC2007 release and the embedded Fashion-MNIST scene set that
// make_fashion_voc writes in the same layout, so the detector, the VOC07 SVM protocol and the
// mAP code run on every machine (DESIGN.md, "The embedded default"). Boxes follow VOC's
// convention: 1-based inclusive pixel coordinates, so a box covers xmax - xmin + 1 columns.
//
// Every malformed input throws InputError naming the file and what is wrong.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/data/dataset.h"

namespace swavbench {

struct VocObject {
  std::string name;
  // 1-based, inclusive. Double, as the devkit reads them (MATLAB doubles): a box at exactly
  // IoU 0.5 with decimal coordinates (6.4, 14.375) is a match in double arithmetic and can fall
  // on either side of 0.5 in float.
  double xmin = 0, ymin = 0, xmax = 0, ymax = 0;
  bool difficult = false;
  bool truncated = false;
};

struct VocAnnotation {
  std::string image_id;  // the XML file's stem, e.g. "000005"
  std::string filename;  // <filename>, e.g. "000005.jpg"; "<id>.jpg" when the XML has none
  int width = 0, height = 0, depth = 0;  // depth 0 when the XML has no <depth>
  std::vector<VocObject> objects;
};

// The 20 VOC classes in the devkit's order (VOCinit.m).
std::vector<std::string> voc07_classes();

// The names make_fashion_voc gives the 10 Fashion-MNIST classes (label order, no spaces).
std::vector<std::string> fashion_voc_classes();

// Reads Annotations/<id>.xml. When `classes` is not empty, an object whose <name> is not in it is
// an InputError that lists the valid names.
VocAnnotation read_voc_annotation(const std::string& xml_path,
                                  const std::vector<std::string>& classes = {});

// Writes `annotation` in the devkit's XML layout (what read_voc_annotation reads back).
void write_voc_annotation(const std::string& xml_path, const VocAnnotation& annotation);

// The ids of ImageSets/Main/<split>.txt, in file order.
std::vector<std::string> read_voc_image_set(const std::string& root, const std::string& split);

// ImageSets/Main/<class>_<split>.txt: (id, label) pairs, label in {1, -1, 0} as the devkit's
// classification ground truth (0: the class occurs only as difficult objects).
std::vector<std::pair<std::string, int>> read_voc_class_labels(const std::string& root,
                                                               const std::string& class_name,
                                                               const std::string& split);

// root/classes.txt when it exists (written by make_fashion_voc), else voc07_classes().
std::vector<std::string> read_voc_classes(const std::string& root);

// One split of a VOC-layout dataset. Annotations are read and validated up front (boxes inside
// the image, known class names); images are decoded on demand.
class VocDataset {
 public:
  VocDataset(std::string root, std::string split,
             std::vector<std::string> classes = voc07_classes());
  int64_t size() const { return static_cast<int64_t>(annotations_.size()); }
  const VocAnnotation& annotation(int64_t index) const { return annotations_.at(index); }
  const std::vector<VocAnnotation>& annotations() const { return annotations_; }
  // Decodes JPEGImages/<filename>; its size must match the annotation's <size>, since the boxes
  // are only meaningful in that frame.
  ImageU8 image(int64_t index) const;
  const std::vector<std::string>& classes() const { return classes_; }
  // Index of `name` in classes(), or -1. Every object name of a loaded annotation is found.
  int class_index(const std::string& name) const;
  const std::string& root() const { return root_; }
  const std::string& split() const { return split_; }

 private:
  std::string root_, split_;
  std::vector<std::string> classes_;
  std::vector<VocAnnotation> annotations_;
};

// --- The embedded Fashion-MNIST scene set --------------------------------------------------

// Writes a detection + multi-label dataset in the VOC2007 layout under `out_dir`: 96 x 96 RGB
// scenes of 1..4 Fashion-MNIST items, each scaled to 20..48 px, tinted, and alpha-blended (alpha =
// item intensity) at a random position on a noisy grey background. A box is the tight box of the
// item's pixels at or above kFashionVocThreshold after scaling; an item whose visible area (not
// covered by later items) is below 40% of its own is difficult. train/val come from
// Fashion-MNIST's train split (val: a deterministic 20%, at least one image), test from its test
// split. Ids 000001.. run over train/val first, then test, unique as in VOC2007. The same
// arguments give byte-identical files on every machine (own splitmix64 streams, integer blending).
void make_fashion_voc(const std::string& out_dir, uint64_t seed, int train_images, int test_images,
                      const std::string& fashion_dir = kFashionMnistDir);

inline constexpr int kFashionVocCanvas = 96;
inline constexpr int kFashionVocThreshold = 32;  // item intensity that counts as "item"
inline constexpr double kFashionVocDifficultVisible = 0.4;

// One item placed on a scene: a 28 x 28 grey Fashion-MNIST image scaled to `size` x `size` with
// its top-left corner at 0-based (x, y); the patch must lie inside the canvas.
struct FashionVocItem {
  std::vector<uint8_t> pixels;  // 28 * 28
  int label = 0;                // index into fashion_voc_classes()
  int size = 28;
  int x = 0, y = 0;
  std::array<uint8_t, 3> tint = {255, 255, 255};
};

struct FashionVocScene {
  ImageU8 image;
  std::vector<VocObject> objects;  // one per item with any pixel over the threshold, paste order
};

// Composes one scene: items pasted in order (later items on top) over a background drawn from
// `background_seed`. Exposed so that tests can build occlusion cases by hand.
FashionVocScene compose_fashion_voc_scene(const std::vector<FashionVocItem>& items,
                                          uint64_t background_seed);

}  // namespace swavbench
