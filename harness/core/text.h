// Small text helpers shared by config validation, the Lua layer and the CLI.
#pragma once

#include <string>
#include <vector>

namespace swavbench {

// Levenshtein edit distance (used for "did you mean" suggestions).
int edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word`, or "" when none is within a plausible distance.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(const std::string& data);

// SHA-256 of a file's contents; throws InputError naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

std::string hostname();
std::string utc_now_iso8601();

}  // namespace swavbench
