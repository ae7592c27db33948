// RunConfig: defaults, resolution order, validation messages, hashing.
#include <gtest/gtest.h>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/method_spec.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

using nlohmann::json;

std::string error_of(const json& table, const json& overrides = json::object()) {
  try {
    resolve_config(table, overrides, "suite/x.lua:7");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Prototype freezing is in epochs, the authors' unit (313 iterations at 4096 and 5005 at 256 are
// both one ImageNet epoch), so it scales with the data and the batch; an iteration count, when
// given, wins.
TEST(Config, PrototypeFreezingIsInEpochsUnlessAnIterationCountIsGiven) {
  RunConfig c = resolve_config(json::object(), json::object(), "w");
  EXPECT_EQ(c.freeze_prototypes_iters, -1);
  EXPECT_DOUBLE_EQ(c.freeze_prototypes_epochs, 1.0);
  EXPECT_EQ(prototype_freeze_iterations(c, 39), 39);    // 10000 images at batch 256
  EXPECT_EQ(prototype_freeze_iterations(c, 156), 156);  // the same data at batch 64
  c.freeze_prototypes_epochs = 0.5;
  EXPECT_EQ(prototype_freeze_iterations(c, 16), 8);
  EXPECT_EQ(prototype_freeze_iterations(c, 39), 20);  // 19.5 rounds to 20
  c.freeze_prototypes_iters = 0;
  EXPECT_EQ(prototype_freeze_iterations(c, 39), 0);
  c.freeze_prototypes_iters = 313;
  EXPECT_EQ(prototype_freeze_iterations(c, 312), 313);
  EXPECT_NE(error_of({{"freeze_prototypes_iters", -2}})
                .find("'freeze_prototypes_iters' must be >= 0, or -1 to freeze for "
                      "freeze_prototypes_epochs instead, got -2"),
            std::string::npos);
  EXPECT_NE(error_of({{"freeze_prototypes_epochs", -0.5}})
                .find("'freeze_prototypes_epochs' must be >= 0"),
            std::string::npos);
}

TEST(Config, DefaultsAreTheFashionMnistRecipe) {
  RunConfig c = resolve_config(json::object(), json::object(), "here");
  EXPECT_EQ(c.method, "swav");
  EXPECT_EQ(c.arch, "resnet10");
  EXPECT_EQ(c.prototypes, 100);
  ASSERT_EQ(c.crops.size(), 2u);
  EXPECT_EQ(c.crops[0].count, 2);
  EXPECT_EQ(c.crops[1].size, 14);
  EXPECT_EQ(c.total_crops(), 6);
  EXPECT_DOUBLE_EQ(c.epsilon, 0.05);
  EXPECT_EQ(c.sinkhorn_iters, 3);
}

TEST(Config, UnknownKeyNamesTheKeyTheLineAndTheClosestKey) {
  std::string e = error_of({{"epoch", 3}});
  EXPECT_NE(e.find("suite/x.lua:7"), std::string::npos) << e;
  EXPECT_NE(e.find("'epoch'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'epochs'"), std::string::npos) << e;
  EXPECT_NE(error_of({{"protoypes", 10}}).find("'prototypes'"), std::string::npos);
}

TEST(Config, WrongTypesAndValuesAreClear) {
  EXPECT_NE(error_of({{"epochs", "ten"}}).find("must be an integer"), std::string::npos);
  EXPECT_NE(error_of({{"epochs", 2.5}}).find("must be an integer"), std::string::npos);
  EXPECT_NE(error_of({{"method", "swaw"}}).find("did you mean 'swav'"), std::string::npos);
  EXPECT_NE(error_of({{"batch_size", 0}}).find("must be positive"), std::string::npos);
  EXPECT_NE(error_of({{"crops_for_assign", {0, 9}}}).find("out of range"), std::string::npos);
  EXPECT_NE(
      error_of({{"crops", {{{"count", 2}, {"size", 28}, {"min_scale", 0.5}, {"max_scale", 0.2}}}}})
          .find("min_scale <= max_scale"),
      std::string::npos);
  EXPECT_NE(
      error_of({{"crops", {{{"count", 2}, {"sise", 28}, {"min_scale", 0.5}, {"max_scale", 1.0}}}}})
          .find("did you mean 'size'"),
      std::string::npos);
}

// Values are refused, never narrowed or clamped: each message names the key, the range and what
// was given (issue 16, class 2).
TEST(Config, OutOfRangeValuesAreRefusedNotNarrowed) {
  // 4294967360 = 2^32 + 64: a 32-bit cast made it 64 and reused a cached batch-64 run.
  std::string e = error_of({{"batch_size", 4294967360LL}});
  EXPECT_NE(e.find("suite/x.lua:7: config key 'batch_size' must be an integer in [-2147483648, "
                   "2147483647], got number 4294967360"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of({{"batch_size", 4294967360.0}}).find("must be an integer in"),
            std::string::npos);
  EXPECT_NE(error_of({{"epochs", 1e308}}).find("'epochs' must be an integer in"),
            std::string::npos);
  EXPECT_NE(error_of({{"seed", 1e19}}).find("'seed' must be an integer in"), std::string::npos);
  EXPECT_NE(error_of({{"seed", -1e19}}).find("'seed' must be an integer in"), std::string::npos);
  EXPECT_EQ(resolve_config({{"seed", 9007199254740992.0}}, json::object(), "w").seed,
            9007199254740992LL);
  EXPECT_EQ(resolve_config({{"batch_size", 128.0}}, json::object(), "w").batch_size, 128);
  EXPECT_EQ(error_of({{"base_lr", -0.1}}),
            "suite/x.lua:7: config key 'base_lr' must be positive, got -0.1");
  EXPECT_NE(error_of({{"final_lr", -1e-4}}).find("'final_lr' must be >= 0"), std::string::npos);
  EXPECT_NE(error_of({{"weight_decay", -1}}).find("'weight_decay' must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of({{"moco_queue", -5}}).find("'moco_queue' must be >= 0"), std::string::npos);
  EXPECT_NE(error_of({{"collapse_patience", 0}}).find("'collapse_patience' must be positive"),
            std::string::npos);
  EXPECT_NE(error_of({{"width", 1e6}}).find("'width' must be at most 16"), std::string::npos);
  EXPECT_NE(error_of({{"load_size", 100000}}).find("'load_size' must be 0 (unset) or in [8, 4096]"),
            std::string::npos);
  // A crop far beyond the image: 8x Fashion-MNIST's 28 px is the most that is accepted.
  e = error_of(
      {{"crops", {{{"count", 2}, {"size", 1000000}, {"min_scale", 0.1}, {"max_scale", 1.0}}}}});
  EXPECT_NE(e.find("crops[1].size 1000000 is more than 8x the images' size 28 (Fashion-MNIST); "
                   "the largest crop that makes sense here is 224"),
            std::string::npos)
      << e;
  EXPECT_EQ(error_of({{"crops",
                       {{{"count", 2}, {"size", 224}, {"min_scale", 0.1}, {"max_scale", 1.0}}}}}),
            "");
  EXPECT_NE(
      error_of({{"dataset", "imagefolder"},
                {"load_size", 64},
                {"crops", {{{"count", 2}, {"size", 513}, {"min_scale", 0.1}, {"max_scale", 1.0}}}}})
          .find("size 64 (imagefolder decoded at load_size)"),
      std::string::npos);
  EXPECT_NE(error_of({{"crops",
                       {{{"count", 1e10}, {"size", 28}, {"min_scale", 0.1}, {"max_scale", 1.0}}}}})
                .find("'crops[1].count' must be an integer in"),
            std::string::npos);
}

TEST(Config, ResolutionOrderIsDefaultsMethodTableThenOverrides) {
  // Method defaults: MoCo's temperature is 0.2 unless the table says otherwise.
  EXPECT_DOUBLE_EQ(resolve_config({{"method", "moco"}}, json::object(), "w").temperature, 0.2);
  EXPECT_DOUBLE_EQ(
      resolve_config({{"method", "moco"}, {"temperature", 0.3}}, json::object(), "w").temperature,
      0.3);
  RunConfig c = resolve_config({{"epochs", 3}}, {{"epochs", 1}}, "w");
  EXPECT_EQ(c.epochs, 1);
  // An override of the method switches the method defaults too.
  EXPECT_EQ(resolve_config({{"method", "swav"}}, {{"method", "random"}}, "w").epochs, 0);
}

// A method is what it registers: a new one needs no edit to the config layer or the tables.
TEST(Config, MethodsAreWhatTheRegistryHolds) {
  MethodSpec toy;
  toy.name = "toy_views";
  toy.display_name = "Toy Views";
  toy.table_order = 7;
  toy.min_crops = 3;
  toy.defaults = {{"temperature", 0.5}, {"epochs", 4}};
  toy.validate = [](const RunConfig& c, const std::string& where) {
    SB_INPUT_CHECK(c.queue_length == 0, "{}: toy_views has no queue", where);
  };
  register_method_spec(toy);

  const json three_crops =
      json::array({{{"count", 3}, {"size", 28}, {"min_scale", 0.2}, {"max_scale", 1.0}}});
  RunConfig c =
      resolve_config({{"method", "toy_views"}, {"crops", three_crops}}, json::object(), "w");
  EXPECT_DOUBLE_EQ(c.temperature, 0.5);  // its defaults
  EXPECT_EQ(c.epochs, 4);
  EXPECT_EQ(resolve_config({{"method", "toy_views"}, {"crops", three_crops}}, {{"epochs", 1}}, "w")
                .epochs,
            1);  // --set still wins
  // Its crop count and its own check.
  const json two_crops =
      json::array({{{"count", 2}, {"size", 28}, {"min_scale", 0.2}, {"max_scale", 1.0}}});
  EXPECT_NE(error_of({{"method", "toy_views"}, {"crops", two_crops}})
                .find("method 'toy_views' needs at least 3 crops, got 2"),
            std::string::npos)
      << error_of({{"method", "toy_views"}, {"crops", two_crops}});
  EXPECT_NE(error_of({{"method", "toy_views"}, {"crops", three_crops}, {"queue_length", 8}})
                .find("toy_views has no queue"),
            std::string::npos);
  // Names and order for tables; the --list-keys line lists it among the valid values.
  EXPECT_EQ(method_display_name("toy_views"), "Toy Views");
  EXPECT_EQ(method_display_name("never_registered"), "never_registered");
  EXPECT_LT(method_table_order("swav"), method_table_order("toy_views"));
  EXPECT_LT(method_table_order("toy_views"), method_table_order("never_registered"));
  bool listed = false;
  for (const auto& doc : config_key_docs())
    if (doc.key == "method") listed = doc.type.find("toy_views") != std::string::npos;
  EXPECT_TRUE(listed);
  EXPECT_NE(error_of({{"method", "toy_view"}}).find("did you mean 'toy_views'"), std::string::npos);
}

// The five methods of this build, as app/main.cpp registers them.
TEST(Config, BuiltinMethodSpecs) {
  std::vector<std::string> names;
  for (const MethodSpec* spec : method_specs())
    if (spec->name != "toy_views") names.push_back(spec->name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"swav", "simclr", "moco", "supervised", "random", "pixels"}));
  EXPECT_TRUE(method_spec("pixels", "w").pixel_features);
  EXPECT_FALSE(method_spec("pixels", "w").trains);
  EXPECT_FALSE(method_spec("random", "w").pixel_features);
  EXPECT_EQ(method_spec("moco", "w").display_name, "MoCo v2");
  EXPECT_EQ(method_spec("random", "w").paper_name, "");  // the paper has no random-init row
  EXPECT_FALSE(method_spec("random", "w").trains);
  EXPECT_NE(method_spec("swav", "w").collapse_advice.find("freeze_prototypes_epochs"),
            std::string::npos);
  EXPECT_TRUE(method_spec("simclr", "w").collapse_advice.empty());
  // A SwAV-only check stays SwAV's: SimCLR has no crops_for_assign to check.
  const json two =
      json::array({{{"count", 2}, {"size", 28}, {"min_scale", 0.2}, {"max_scale", 1.0}}});
  EXPECT_NE(error_of({{"method", "swav"}, {"crops", two}, {"crops_for_assign", {0, 5}}})
                .find("crops_for_assign index 5 is out of range"),
            std::string::npos);
  EXPECT_EQ(error_of({{"method", "simclr"}, {"crops", two}, {"crops_for_assign", {0, 5}}}), "");
}

TEST(Config, HashIsStableAndSensitive) {
  RunConfig a = resolve_config({{"epochs", 3}}, json::object(), "w");
  RunConfig b = resolve_config({{"epochs", 3}}, json::object(), "w");
  RunConfig c = resolve_config({{"epochs", 4}}, json::object(), "w");
  EXPECT_EQ(a.hash(), b.hash());
  EXPECT_NE(a.hash(), c.hash());
  EXPECT_EQ(a.hash().size(), 16u);
  // JSON round trip gives the same config.
  RunConfig round = resolve_config(a.to_json(), json::object(), "w");
  EXPECT_EQ(round.hash(), a.hash());
  // The label is not part of what is trained.
  RunConfig labelled = resolve_config({{"epochs", 3}, {"label", "x"}}, json::object(), "w");
  EXPECT_EQ(labelled.hash(), a.hash());
}

TEST(Config, PresetsResolve) {
  RunConfig c = resolve_config({{"preset", "imagenet_800ep_bs4096"}, {"data_path", "/x"}},
                               json::object(), "w");
  EXPECT_EQ(c.arch, "resnet50");
  EXPECT_EQ(c.batch_size, 4096);
  EXPECT_EQ(c.prototypes, 3000);
  EXPECT_EQ(c.total_crops(), 8);
  EXPECT_DOUBLE_EQ(c.base_lr, 4.8);
  EXPECT_EQ(c.freeze_prototypes_iters, 313);
  EXPECT_NE(error_of({{"preset", "imagenet_800"}}).find("unknown preset"), std::string::npos);
}

TEST(Config, SetValuesParseAsJsonElseString) {
  EXPECT_EQ(parse_set_value("3"), json(3));
  EXPECT_EQ(parse_set_value("0.5"), json(0.5));
  EXPECT_EQ(parse_set_value("true"), json(true));
  EXPECT_EQ(parse_set_value("swav"), json("swav"));
  EXPECT_EQ(parse_set_value("[0,1]"), json({0, 1}));
}

TEST(Text, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(Text, ClosestMatch) {
  EXPECT_EQ(closest_match("epoch", {"epochs", "seed", "arch"}), "epochs");
  EXPECT_EQ(closest_match("zzzzzzzz", {"epochs", "seed"}), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
}

}  // namespace
}  // namespace swavbench
