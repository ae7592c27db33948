// VOC2007 layout reader and the Fashion-MNIST scene writer (see voc.h).
#include "harness/data/voc.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pugixml.hpp>
#include <set>
#include <sstream>
#include <unordered_set>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"
#include "harness/data/scenes.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

const char* const kSplits[] = {"train", "val", "trainval", "test"};

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n\f\v";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  std::string token;
  while (in >> token) tokens.push_back(token);
  return tokens;
}

bool parse_long(const std::string& text, long* value) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtol(t.c_str(), &end, 10);
  return errno == 0 && end == t.c_str() + t.size();
}

bool parse_double(const std::string& text, double* value) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtod(t.c_str(), &end);
  return errno == 0 && end == t.c_str() + t.size() && std::isfinite(*value);
}

void check_split(const std::string& split) {
  for (const char* s : kSplits) {
    if (split == s) return;
  }
  throw InputError(
      fmt::format("VOC: unknown image set split '{}' (valid: train, val, trainval, test)", split));
}

std::string image_set_path(const std::string& root, const std::string& name) {
  return (fs::path(root) / "ImageSets" / "Main" / (name + ".txt")).string();
}

// Non-empty, trimmed lines with their 1-based line numbers.
std::vector<std::pair<int, std::string>> read_lines(const std::string& path,
                                                    const std::string& what) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_regular_file(path, ec),
                 "{}: {} not found; expected the VOC2007 layout <root>/ImageSets/Main/<split>.txt "
                 "(split train, val, trainval or test) beside <root>/Annotations/<id>.xml and "
                 "<root>/JPEGImages/<id>.jpg",
                 path, what);
  std::ifstream in(path);
  SB_INPUT_CHECK(in.is_open(), "{}: cannot open: {}", path, std::strerror(errno));
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (!t.empty()) lines.emplace_back(number, std::move(t));
  }
  SB_INPUT_CHECK(!in.bad(), "{}: read failed: {}", path, std::strerror(errno));
  return lines;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SB_INPUT_CHECK(out.is_open(), "{}: cannot write: {}", path, std::strerror(errno));
  out << text;
  out.close();
  SB_INPUT_CHECK(out.good(), "{}: write failed: {}", path, std::strerror(errno));
}

// The text of `parent`'s child `name`; InputError naming the file and the element when absent.
std::string required_text(const pugi::xml_node& parent, const char* name, const std::string& path,
                          const std::string& where) {
  const pugi::xml_node child = parent.child(name);
  SB_INPUT_CHECK(child, "{}: {} has no <{}> element", path, where, name);
  return child.child_value();
}

int required_positive_int(const pugi::xml_node& parent, const char* name, const std::string& path,
                          const std::string& where) {
  const std::string text = required_text(parent, name, path, where);
  long value = 0;
  SB_INPUT_CHECK(parse_long(text, &value) && value > 0 && value <= (1 << 20),
                 "{}: {}<{}> is '{}', expected a positive integer", path, where, name, text);
  return static_cast<int>(value);
}

bool optional_flag(const pugi::xml_node& object, const char* name, const std::string& path,
                   const std::string& where) {
  const pugi::xml_node child = object.child(name);
  if (!child) return false;
  long value = 0;
  SB_INPUT_CHECK(parse_long(child.child_value(), &value) && (value == 0 || value == 1),
                 "{}: {}<{}> is '{}', expected 0 or 1", path, where, name, child.child_value());
  return value == 1;
}

void check_class_list(const std::vector<std::string>& classes, const std::string& source) {
  SB_INPUT_CHECK(!classes.empty(), "{}: the class list is empty", source);
  std::unordered_set<std::string> seen;
  for (const std::string& name : classes) {
    SB_INPUT_CHECK(!name.empty() && split_ws(name).size() == 1 && split_ws(name)[0] == name,
                   "{}: class name '{}' is empty or contains whitespace", source, name);
    SB_INPUT_CHECK(seen.insert(name).second, "{}: class '{}' is listed twice", source, name);
  }
}

constexpr uint64_t kStreamTrain = 1, kStreamTest = 2, kStreamVal = 3;

FashionVocScene random_scene(const InMemoryDataset& source, uint64_t image_seed) {
  SplitMix64 rng(image_seed);
  const uint64_t background_seed = rng.next();
  const int count = 1 + rng.below_int(4);
  std::vector<FashionVocItem> items(count);
  for (FashionVocItem& item : items) {
    const int64_t index = static_cast<int64_t>(rng.below(static_cast<uint64_t>(source.size())));
    const uint8_t* pixels = source.pixels(index);
    item.pixels.assign(pixels, pixels + 28 * 28);
    item.label = static_cast<int>(source.label(index));
    item.size = 20 + rng.below_int(29);
    item.x = rng.below_int(kFashionVocCanvas - item.size + 1);
    item.y = rng.below_int(kFashionVocCanvas - item.size + 1);
    // Bright tints over a darker background keep every item visible whatever its colour.
    for (uint8_t& channel : item.tint) channel = static_cast<uint8_t>(140 + rng.below_int(116));
  }
  return compose_fashion_voc_scene(items, background_seed);
}

}  // namespace

std::vector<std::string> voc07_classes() {
  return {"aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
          "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
          "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};
}

std::vector<std::string> fashion_voc_classes() {
  return {"t-shirt", "trouser", "pullover", "dress", "coat",
          "sandal",  "shirt",   "sneaker",  "bag",   "ankle-boot"};
}

VocAnnotation read_voc_annotation(const std::string& xml_path,
                                  const std::vector<std::string>& classes) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_regular_file(xml_path, ec), "{}: annotation file not found", xml_path);
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_file(xml_path.c_str());
  if (!parsed) {
    SB_INPUT_CHECK(
        parsed.status != pugi::status_file_not_found && parsed.status != pugi::status_io_error,
        "{}: cannot read: {}", xml_path, parsed.description());
    throw InputError(fmt::format("{}: malformed XML: {} at offset {}", xml_path,
                                 parsed.description(), parsed.offset));
  }
  const pugi::xml_node root = doc.child("annotation");
  SB_INPUT_CHECK(root, "{}: no <annotation> root element (not a VOC annotation)", xml_path);

  VocAnnotation annotation;
  annotation.image_id = fs::path(xml_path).stem().string();
  annotation.filename = trim(root.child_value("filename"));
  if (annotation.filename.empty()) annotation.filename = annotation.image_id + ".jpg";

  const pugi::xml_node size = root.child("size");
  SB_INPUT_CHECK(size, "{}: <annotation> has no <size> element", xml_path);
  annotation.width = required_positive_int(size, "width", xml_path, "<size>");
  annotation.height = required_positive_int(size, "height", xml_path, "<size>");
  if (size.child("depth")) {
    annotation.depth = required_positive_int(size, "depth", xml_path, "<size>");
  }

  int number = 0;
  for (const pugi::xml_node object : root.children("object")) {
    ++number;
    const std::string where = fmt::format("object {}", number);
    VocObject box;
    box.name = trim(required_text(object, "name", xml_path, where));
    SB_INPUT_CHECK(!box.name.empty(), "{}: {} has an empty <name>", xml_path, where);
    if (!classes.empty()) {
      SB_INPUT_CHECK(std::find(classes.begin(), classes.end(), box.name) != classes.end(),
                     "{}: {} has unknown class '{}' (valid classes: {})", xml_path, where, box.name,
                     fmt::join(classes, ", "));
    }
    const std::string named = fmt::format("{} ('{}')", where, box.name);
    box.difficult = optional_flag(object, "difficult", xml_path, named + " ");
    box.truncated = optional_flag(object, "truncated", xml_path, named + " ");
    const pugi::xml_node bndbox = object.child("bndbox");
    SB_INPUT_CHECK(bndbox, "{}: {} has no <bndbox> element", xml_path, named);
    const std::pair<const char*, double*> coords[] = {
        {"xmin", &box.xmin}, {"ymin", &box.ymin}, {"xmax", &box.xmax}, {"ymax", &box.ymax}};
    for (const auto& [name, value] : coords) {
      const std::string text = required_text(bndbox, name, xml_path, named + " <bndbox>");
      SB_INPUT_CHECK(parse_double(text, value), "{}: {} <bndbox><{}> is '{}', not a number",
                     xml_path, named, name, text);
    }
    SB_INPUT_CHECK(box.xmin >= 1 && box.ymin >= 1 && box.xmax <= annotation.width &&
                       box.ymax <= annotation.height && box.xmin <= box.xmax &&
                       box.ymin <= box.ymax,
                   "{}: {} box (xmin {}, ymin {}, xmax {}, ymax {}) is not inside the {}x{} image "
                   "(VOC boxes are 1-based and inclusive: 1 <= xmin <= xmax <= width, "
                   "1 <= ymin <= ymax <= height)",
                   xml_path, named, box.xmin, box.ymin, box.xmax, box.ymax, annotation.width,
                   annotation.height);
    annotation.objects.push_back(std::move(box));
  }
  return annotation;
}

void write_voc_annotation(const std::string& xml_path, const VocAnnotation& annotation) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("annotation");
  auto add = [](pugi::xml_node parent, const char* name, const std::string& text) {
    parent.append_child(name).append_child(pugi::node_pcdata).set_value(text.c_str());
  };
  add(root, "folder", "VOC2007");
  add(root, "filename", annotation.filename);
  pugi::xml_node source = root.append_child("source");
  add(source, "database", "swavbench");
  pugi::xml_node size = root.append_child("size");
  add(size, "width", std::to_string(annotation.width));
  add(size, "height", std::to_string(annotation.height));
  add(size, "depth", std::to_string(annotation.depth));
  add(root, "segmented", "0");
  for (const VocObject& box : annotation.objects) {
    pugi::xml_node object = root.append_child("object");
    add(object, "name", box.name);
    add(object, "pose", "Unspecified");
    add(object, "truncated", box.truncated ? "1" : "0");
    add(object, "difficult", box.difficult ? "1" : "0");
    pugi::xml_node bndbox = object.append_child("bndbox");
    // Shortest round-trip text: integral VOC boxes stay "48", not "48.000000".
    add(bndbox, "xmin", fmt::format("{}", box.xmin));
    add(bndbox, "ymin", fmt::format("{}", box.ymin));
    add(bndbox, "xmax", fmt::format("{}", box.xmax));
    add(bndbox, "ymax", fmt::format("{}", box.ymax));
  }
  // No XML declaration and tab indentation, as the devkit's own files.
  SB_INPUT_CHECK(
      doc.save_file(xml_path.c_str(), "\t", pugi::format_indent | pugi::format_no_declaration),
      "{}: cannot write: {}", xml_path, std::strerror(errno));
}

std::vector<std::string> read_voc_image_set(const std::string& root, const std::string& split) {
  check_split(split);
  const std::string path = image_set_path(root, split);
  std::vector<std::string> ids;
  std::unordered_set<std::string> seen;
  for (const auto& [number, line] : read_lines(path, "image set file")) {
    const std::vector<std::string> tokens = split_ws(line);
    SB_INPUT_CHECK(tokens.size() == 1, "{}:{}: expected one image id per line, got '{}'", path,
                   number, line);
    SB_INPUT_CHECK(seen.insert(line).second, "{}:{}: image id '{}' is listed twice", path, number,
                   line);
    ids.push_back(line);
  }
  SB_INPUT_CHECK(!ids.empty(), "{}: lists no image ids", path);
  return ids;
}

std::vector<std::pair<std::string, int>> read_voc_class_labels(const std::string& root,
                                                               const std::string& class_name,
                                                               const std::string& split) {
  check_split(split);
  const std::string path = image_set_path(root, class_name + "_" + split);
  std::vector<std::pair<std::string, int>> labels;
  for (const auto& [number, line] : read_lines(path, "per-class image set file")) {
    const std::vector<std::string> tokens = split_ws(line);
    long label = 0;
    SB_INPUT_CHECK(tokens.size() == 2 && parse_long(tokens[1], &label) &&
                       (label == 1 || label == -1 || label == 0),
                   "{}:{}: expected '<image id> <label>' with label 1, -1 or 0, got '{}'", path,
                   number, line);
    labels.emplace_back(tokens[0], static_cast<int>(label));
  }
  return labels;
}

std::vector<std::string> read_voc_classes(const std::string& root) {
  const std::string path = (fs::path(root) / "classes.txt").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return voc07_classes();
  std::vector<std::string> classes;
  for (const auto& [number, line] : read_lines(path, "class list")) {
    SB_INPUT_CHECK(split_ws(line).size() == 1, "{}:{}: expected one class name per line, got '{}'",
                   path, number, line);
    SB_INPUT_CHECK(std::find(classes.begin(), classes.end(), line) == classes.end(),
                   "{}:{}: class '{}' is listed twice", path, number, line);
    classes.push_back(line);
  }
  SB_INPUT_CHECK(!classes.empty(), "{}: lists no classes", path);
  return classes;
}

VocDataset::VocDataset(std::string root, std::string split, std::vector<std::string> classes)
    : root_(std::move(root)), split_(std::move(split)), classes_(std::move(classes)) {
  check_class_list(classes_, "VOC dataset " + root_);
  const std::vector<std::string> ids = read_voc_image_set(root_, split_);
  annotations_.reserve(ids.size());
  for (const std::string& id : ids) {
    const std::string path = (fs::path(root_) / "Annotations" / (id + ".xml")).string();
    std::error_code ec;
    SB_INPUT_CHECK(fs::is_regular_file(path, ec), "{}: not found (image '{}' is listed in {})",
                   path, id, image_set_path(root_, split_));
    annotations_.push_back(read_voc_annotation(path, classes_));
  }
}

ImageU8 VocDataset::image(int64_t index) const {
  const VocAnnotation& annotation = annotations_.at(index);
  const std::string path = (fs::path(root_) / "JPEGImages" / annotation.filename).string();
  ImageU8 image = decode_image_file(path);
  SB_INPUT_CHECK(image.width == annotation.width && image.height == annotation.height,
                 "{}: image is {}x{} but {} gives <size> {}x{}", path, image.width, image.height,
                 (fs::path(root_) / "Annotations" / (annotation.image_id + ".xml")).string(),
                 annotation.width, annotation.height);
  return image;
}

int VocDataset::class_index(const std::string& name) const {
  const auto it = std::find(classes_.begin(), classes_.end(), name);
  return it == classes_.end() ? -1 : static_cast<int>(it - classes_.begin());
}

FashionVocScene compose_fashion_voc_scene(const std::vector<FashionVocItem>& items,
                                          uint64_t background_seed) {
  const int canvas = kFashionVocCanvas;
  const std::vector<std::string> names = fashion_voc_classes();
  FashionVocScene scene;
  ImageU8& image = scene.image;
  image.height = image.width = canvas;
  image.channels = 3;
  image.pixels.resize(static_cast<size_t>(canvas) * canvas * 3);
  // A dark gradient with slight noise (the scenes' generator, harness/data/scenes.h): flat
  // backgrounds would let a detector key on any non-flat pixel, and the darkness keeps the
  // bright tinted items in contrast.
  SplitMix64 rng(background_seed);
  paint_gradient_background(image, rng, 30, 100, 6);

  // owner[p]: the topmost item whose mask covers pixel p, for the visible-area test.
  std::vector<int> owner(static_cast<size_t>(canvas) * canvas, -1);
  struct Extent {
    int x0, y0, x1, y1;
    int64_t area = 0;
  };
  std::vector<Extent> extents(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const FashionVocItem& item = items[i];
    SB_CHECK(item.pixels.size() == 28 * 28, "fashion VOC item {}: {} pixels, expected 784", i,
             item.pixels.size());
    SB_CHECK(item.label >= 0 && item.label < static_cast<int>(names.size()),
             "fashion VOC item {}: label {}", i, item.label);
    SB_CHECK(item.size >= 1 && item.x >= 0 && item.y >= 0 && item.x + item.size <= canvas &&
                 item.y + item.size <= canvas,
             "fashion VOC item {}: {}px patch at ({}, {}) leaves the {}px canvas", i, item.size,
             item.x, item.y, canvas);
    const ImageU8 scaled = scaled_garment(item.pixels.data(), item.size, false);
    // Alpha = intensity (opacity 255), in integers so the output does not depend on rounding.
    blend_garment(image, scaled, item.x, item.y, item.tint, 255);
    Extent& extent = extents[i];
    extent = {canvas, canvas, -1, -1, 0};
    for (int y = 0; y < item.size; ++y) {
      for (int x = 0; x < item.size; ++x) {
        const int v = scaled.pixels[static_cast<size_t>(y) * item.size + x];
        const int cx = item.x + x, cy = item.y + y;
        const size_t p = static_cast<size_t>(cy) * canvas + cx;
        if (v >= kFashionVocThreshold) {
          owner[p] = static_cast<int>(i);
          ++extent.area;
          extent.x0 = std::min(extent.x0, cx);
          extent.y0 = std::min(extent.y0, cy);
          extent.x1 = std::max(extent.x1, cx);
          extent.y1 = std::max(extent.y1, cy);
        }
      }
    }
  }

  std::vector<int64_t> visible(items.size(), 0);
  for (const int o : owner) {
    if (o >= 0) ++visible[o];
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const Extent& extent = extents[i];
    if (extent.area == 0) continue;  // nothing over the threshold: not an object to find
    VocObject box;
    box.name = names[items[i].label];
    // 0-based inclusive pixel indices -> VOC's 1-based inclusive coordinates.
    box.xmin = static_cast<double>(extent.x0 + 1);
    box.ymin = static_cast<double>(extent.y0 + 1);
    box.xmax = static_cast<double>(extent.x1 + 1);
    box.ymax = static_cast<double>(extent.y1 + 1);
    box.difficult = static_cast<double>(visible[i]) <
                    kFashionVocDifficultVisible * static_cast<double>(extent.area);
    scene.objects.push_back(std::move(box));
  }
  return scene;
}

void make_fashion_voc(const std::string& out_dir, uint64_t seed, int train_images, int test_images,
                      const std::string& fashion_dir) {
  SB_INPUT_CHECK(train_images >= 2,
                 "make-voc: train_images must be at least 2 (train and val need one image each), "
                 "got {}",
                 train_images);
  SB_INPUT_CHECK(test_images >= 1, "make-voc: test_images must be at least 1, got {}", test_images);
  SB_INPUT_CHECK(static_cast<int64_t>(train_images) + test_images <= 999999,
                 "make-voc: at most 999999 images in all (six-digit VOC ids), got {}",
                 static_cast<int64_t>(train_images) + test_images);
  const std::shared_ptr<InMemoryDataset> train = load_fashion_mnist(fashion_dir, "train");
  const std::shared_ptr<InMemoryDataset> test = load_fashion_mnist(fashion_dir, "test");
  const std::vector<std::string> classes = fashion_voc_classes();

  const fs::path root(out_dir);
  for (const char* sub : {"JPEGImages", "Annotations", "ImageSets/Main"}) {
    std::error_code ec;
    fs::create_directories(root / sub, ec);
    SB_INPUT_CHECK(!ec, "{}: cannot create directory: {}", (root / sub).string(), ec.message());
  }

  // Per image: the class labels for the per-class image set files.
  std::vector<std::string> ids;
  std::vector<std::vector<int>> image_labels;
  const int total = train_images + test_images;
  for (int k = 0; k < total; ++k) {
    const bool is_train = k < train_images;
    const std::string id = fmt::format("{:06d}", k + 1);
    // Each image has its own stream, so image k does not change when the counts do.
    const uint64_t image_seed = is_train ? stream_seed(seed, kStreamTrain, k)
                                         : stream_seed(seed, kStreamTest, k - train_images);
    FashionVocScene scene = random_scene(is_train ? *train : *test, image_seed);
    write_jpeg((root / "JPEGImages" / (id + ".jpg")).string(), scene.image, 95);
    VocAnnotation annotation;
    annotation.image_id = id;
    annotation.filename = id + ".jpg";
    annotation.width = scene.image.width;
    annotation.height = scene.image.height;
    annotation.depth = scene.image.channels;
    annotation.objects = std::move(scene.objects);
    write_voc_annotation((root / "Annotations" / (id + ".xml")).string(), annotation);

    // The devkit's classification ground truth: 1 present, 0 only as difficult, -1 absent.
    std::vector<int> labels(classes.size(), -1);
    for (const VocObject& box : annotation.objects) {
      int& label = labels[std::find(classes.begin(), classes.end(), box.name) - classes.begin()];
      if (!box.difficult) {
        label = 1;
      } else if (label == -1) {
        label = 0;
      }
    }
    ids.push_back(id);
    image_labels.push_back(std::move(labels));
  }

  // val: a seeded 20% of the train-split images (at least one), the rest is train.
  std::vector<int> order(train_images);
  for (int i = 0; i < train_images; ++i) order[i] = i;
  SplitMix64 rng(stream_seed(seed, kStreamVal, 0));
  for (int i = train_images; i > 1; --i) std::swap(order[i - 1], order[rng.below_int(i)]);
  const int val_count = std::max(1, train_images / 5);
  std::vector<bool> is_val(train_images, false);
  for (int i = 0; i < val_count; ++i) is_val[order[i]] = true;

  std::vector<std::pair<std::string, std::vector<int>>> splits(4);
  for (int s = 0; s < 4; ++s) splits[s].first = kSplits[s];
  for (int k = 0; k < total; ++k) {
    if (k < train_images) {
      splits[is_val[k] ? 1 : 0].second.push_back(k);
      splits[2].second.push_back(k);
    } else {
      splits[3].second.push_back(k);
    }
  }
  for (const auto& [split, members] : splits) {
    std::string text;
    for (const int k : members) text += ids[k] + "\n";
    write_text(image_set_path(out_dir, split), text);
    for (size_t c = 0; c < classes.size(); ++c) {
      std::string per_class;
      // "%s %2d" as the devkit writes them: "000005 -1", "000007  1".
      for (const int k : members)
        per_class += fmt::format("{} {:2d}\n", ids[k], image_labels[k][c]);
      write_text(image_set_path(out_dir, classes[c] + "_" + split), per_class);
    }
  }
  std::string class_text;
  for (const std::string& name : classes) class_text += name + "\n";
  write_text((root / "classes.txt").string(), class_text);
}

}  // namespace swavbench
