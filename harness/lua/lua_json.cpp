#include "harness/lua/lua_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "harness/core/check.h"

namespace swavbench {
namespace {

using nlohmann::json;

// nlohmann::json refuses to dump invalid UTF-8 (and configs are hashed from their dump), so a
// bad byte is reported here, naming the key, instead of as an opaque failure later.
bool is_valid_utf8(const char* text, size_t size) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text);
  size_t i = 0;
  while (i < size) {
    unsigned char lead = bytes[i];
    size_t continuation = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      continuation = 1;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      continuation = 2;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      continuation = 3;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + continuation >= size) return false;
    for (size_t k = 1; k <= continuation; ++k) {
      unsigned char next = bytes[i + k];
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    // Overlong encodings, surrogates and values past U+10FFFF are not UTF-8 either.
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[continuation] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += continuation + 1;
  }
  return true;
}

std::string describe_location(const LuaJsonContext& context, const std::string& path) {
  if (path.empty()) return fmt::format("{} (argument {})", context.function_name, context.argument);
  return fmt::format("{} (key '{}')", context.function_name, path);
}

std::string field_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string element_path(const std::string& parent, int64_t position) {
  return fmt::format("{}[{}]", parent, position);
}

class LuaToJson {
 public:
  LuaToJson(lua_State* L, const LuaJsonContext& context) : L_(L), context_(context) {}

  // [-0, +0]
  json convert(int index, const std::string& path, int depth) {
    switch (lua_type(L_, index)) {
      case LUA_TNIL:
        return nullptr;
      case LUA_TBOOLEAN:
        return static_cast<bool>(lua_toboolean(L_, index));
      case LUA_TNUMBER:
        return convert_number(index, path);
      case LUA_TSTRING:
        return convert_string(index, path);
      case LUA_TTABLE:
        return convert_table(index, path, depth);
      default:
        throw InputError(fmt::format("cannot pass a {} to {}", luaL_typename(L_, index),
                                     describe_location(context_, path)));
    }
  }

 private:
  json convert_number(int index, const std::string& path) {
    if (lua_isinteger(L_, index)) return static_cast<int64_t>(lua_tointeger(L_, index));
    double value = lua_tonumber(L_, index);
    if (!std::isfinite(value)) {
      throw InputError(fmt::format("cannot pass {} to {}: JSON has no infinity or NaN", value,
                                   describe_location(context_, path)));
    }
    return value;
  }

  json convert_string(int index, const std::string& path) {
    size_t size = 0;
    const char* text = lua_tolstring(L_, index, &size);
    if (!is_valid_utf8(text, size)) {
      throw InputError(fmt::format("cannot pass a string that is not valid UTF-8 to {}",
                                   describe_location(context_, path)));
    }
    return std::string(text, size);
  }

  // [-0, +0] The key sits at `key_index`; it must not be converted in place (lua_next would
  // lose its position), so numbers are formatted here rather than with lua_tolstring.
  std::string key_to_string(int key_index, const std::string& path) {
    switch (lua_type(L_, key_index)) {
      case LUA_TSTRING: {
        size_t size = 0;
        const char* text = lua_tolstring(L_, key_index, &size);
        if (!is_valid_utf8(text, size)) {
          throw InputError(fmt::format("cannot pass a table key that is not valid UTF-8 to {}",
                                       describe_location(context_, path)));
        }
        return std::string(text, size);
      }
      case LUA_TNUMBER:
        if (lua_isinteger(L_, key_index)) return std::to_string(lua_tointeger(L_, key_index));
        return fmt::format("{}", lua_tonumber(L_, key_index));
      default:
        throw InputError(fmt::format("cannot use a {} as a table key in {}",
                                     luaL_typename(L_, key_index),
                                     describe_location(context_, path)));
    }
  }

  // [-0, +0] on success; on a throw the stack may hold extra values, which is harmless because
  // the caller then raises a Lua error that discards the frame.
  json convert_table(int index, const std::string& path, int depth) {
    if (depth >= kMaxLuaJsonDepth) {
      throw InputError(fmt::format(
          "tables nested more than {} levels deep (a table that contains itself?) in {}",
          kMaxLuaJsonDepth, describe_location(context_, path)));
    }
    if (!lua_checkstack(L_, 3)) {
      throw InputError(
          fmt::format("tables nested too deeply in {}", describe_location(context_, path)));
    }

    // An array needs exactly the keys 1..n: counting keys and tracking the largest positive
    // integer key decides that in one pass without trusting the `#` border of a sparse table.
    int64_t key_count = 0;
    int64_t largest_key = 0;
    bool all_keys_positive_integers = true;
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      lua_pop(L_, 1);
      ++key_count;
      if (lua_isinteger(L_, -1) && lua_tointeger(L_, -1) >= 1) {
        largest_key = std::max<int64_t>(largest_key, lua_tointeger(L_, -1));
      } else {
        all_keys_positive_integers = false;
      }
    }

    if (key_count > 0 && all_keys_positive_integers && largest_key == key_count) {
      json array = json::array();
      for (int64_t position = 1; position <= key_count; ++position) {
        lua_rawgeti(L_, index, position);
        array.push_back(convert(lua_gettop(L_), element_path(path, position), depth + 1));
        lua_pop(L_, 1);
      }
      return array;
    }

    json object = json::object();
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      std::string key = key_to_string(lua_gettop(L_) - 1, path);
      if (object.contains(key)) {
        throw InputError(fmt::format("key '{}' appears both as a number and as a string in {}", key,
                                     describe_location(context_, path)));
      }
      object[key] = convert(lua_gettop(L_), field_path(path, key), depth + 1);
      lua_pop(L_, 1);
    }
    return object;
  }

  lua_State* L_;
  const LuaJsonContext& context_;
};

// [-0, +1]
void push_json(lua_State* L, const json& value, int depth) {
  if (depth > 1000 || !lua_checkstack(L, 3)) {
    throw Error("a result from the driver is nested too deeply to convert to Lua");
  }
  switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      lua_pushnil(L);
      return;
    case json::value_t::boolean:
      lua_pushboolean(L, value.get<bool>() ? 1 : 0);
      return;
    case json::value_t::number_integer:
      lua_pushinteger(L, static_cast<lua_Integer>(value.get<int64_t>()));
      return;
    case json::value_t::number_unsigned: {
      uint64_t number = value.get<uint64_t>();
      if (number <= static_cast<uint64_t>(std::numeric_limits<lua_Integer>::max())) {
        lua_pushinteger(L, static_cast<lua_Integer>(number));
      } else {
        lua_pushnumber(L, static_cast<lua_Number>(number));
      }
      return;
    }
    case json::value_t::number_float:
      lua_pushnumber(L, value.get<double>());
      return;
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      lua_pushlstring(L, text.data(), text.size());
      return;
    }
    case json::value_t::array: {
      lua_createtable(L, static_cast<int>(std::min<size_t>(value.size(), 1 << 20)), 0);
      lua_Integer position = 0;
      for (const auto& element : value) {
        ++position;
        // A null element leaves a hole, as nil would in a Lua array constructor.
        if (element.is_null()) continue;
        push_json(L, element, depth + 1);
        lua_rawseti(L, -2, position);
      }
      return;
    }
    case json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(std::min<size_t>(value.size(), 1 << 20)));
      for (auto entry = value.begin(); entry != value.end(); ++entry) {
        if (entry->is_null()) continue;
        const std::string& key = entry.key();
        lua_pushlstring(L, key.data(), key.size());
        push_json(L, *entry, depth + 1);
        lua_rawset(L, -3);
      }
      return;
    }
    case json::value_t::binary:
      break;
  }
  throw Error("a result from the driver holds binary data, which Lua scripts cannot receive");
}

}  // namespace

json lua_value_to_json(lua_State* L, int index, const LuaJsonContext& context) {
  LuaToJson converter(L, context);
  return converter.convert(lua_absindex(L, index), "", 0);
}

void push_json_as_lua(lua_State* L, const json& value) { push_json(L, value, 0); }

}  // namespace swavbench
