#include "client/cli/args.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace brook::cli {

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& name) const {
  auto it = all_values.find(name);
  return it == all_values.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<int64_t> ParsedArgs::GetInt(const std::string& name, int64_t fallback) const {
  auto it = flags.find(name);
  if (it == flags.end()) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants an integer, got '", it->second, "'"));
  }
  return v;
}

absl::StatusOr<bool> ParsedArgs::GetBool(const std::string& name) const {
  auto it = flags.find(name);
  if (it == flags.end()) return false;
  bool v = false;
  if (!absl::SimpleAtob(it->second, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " wants true or false, got '", it->second, "'"));
  }
  return v;
}

absl::StatusOr<ParsedArgs> Tokenize(const std::vector<std::string>& args,
                                    const std::vector<std::string>& value_flags) {
  ParsedArgs out;
  bool only_words = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_words || a == "-" || !absl::StartsWith(a, "-")) {
      out.words.push_back(a);
      continue;
    }
    if (a == "--") {
      only_words = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      out.help = true;
      continue;
    }
    if (!absl::StartsWith(a, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", a, "' (options are --name or --name=value)"));
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("malformed option '", a, "'"));
    const bool takes_value = std::find(value_flags.begin(), value_flags.end(), name) != value_flags.end();
    if (!value && takes_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    out.flags[name] = value.value_or("true");
    out.all_values[name].push_back(out.flags[name]);
  }
  return out;
}

absl::Status CheckFlags(const ParsedArgs& parsed, const std::vector<FlagSpec>& allowed) {
  for (const auto& [name, value] : parsed.flags) {
    auto it = std::find_if(allowed.begin(), allowed.end(), [&](const FlagSpec& f) { return f.name == name; });
    if (it == allowed.end()) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (!it->takes_value) {
      bool b = false;
      if (!absl::SimpleAtob(value, &b)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " is a switch; it takes no value (got '", value, "')"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseHeaders(
    const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& v : values) {
    const size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--header wants KEY=VALUE with a non-empty KEY, got '", v, "'"));
    }
    out.emplace_back(v.substr(0, eq), v.substr(eq + 1));
  }
  return out;
}

}  // namespace brook::cli
