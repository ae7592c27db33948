#include "harness/train/epoch_report.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"

namespace swavbench {
using nlohmann::json;

std::string epoch_record(const EpochReport& r) {
  auto number = [](double v) { return std::isnan(v) ? json() : json(v); };
  json logs = json::object();
  for (const auto& [k, v] : r.logs) logs[k] = number(v);
  return json{{"epoch", r.epoch},
              {"loss", number(r.loss)},
              {"lr", number(r.lr)},
              {"img_per_s", number(r.img_per_s)},
              {"data_wait", number(r.data_wait)},
              {"peak_mem", number(r.peak_mem)},
              {"seconds", number(r.seconds)},
              {"logs", logs}}
      .dump();
}

EpochReport epoch_report_from_record(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  SB_INPUT_CHECK(j.is_object(), "{}: the last epoch's record is not a JSON object", where);
  auto number = [&](const json& object, const std::string& key) {
    SB_INPUT_CHECK(object.contains(key) && (object[key].is_number() || object[key].is_null()),
                   "{}: the last epoch's record lacks the number '{}'", where, key);
    return object[key].is_null() ? std::nan("") : object[key].get<double>();
  };
  EpochReport r;
  SB_INPUT_CHECK(j.contains("epoch") && j["epoch"].is_number_integer() &&
                     j["epoch"].get<int64_t>() >= 0 && j["epoch"].get<int64_t>() <= 1000000,
                 "{}: the last epoch's record lacks an epoch number in [0, 1000000]", where);
  r.epoch = j["epoch"].get<int>();
  r.loss = number(j, "loss");
  r.lr = number(j, "lr");
  r.img_per_s = number(j, "img_per_s");
  r.data_wait = number(j, "data_wait");
  r.peak_mem = number(j, "peak_mem");
  r.seconds = number(j, "seconds");
  SB_INPUT_CHECK(j.contains("logs") && j["logs"].is_object(),
                 "{}: the last epoch's record lacks its logs", where);
  for (const auto& item : j["logs"].items()) r.logs[item.key()] = number(j["logs"], item.key());
  return r;
}

}  // namespace swavbench
