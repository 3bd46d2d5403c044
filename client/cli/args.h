// Command-line parsing for `brook`: a command path of words ("topic create"), positional arguments, and
// `--flag=value` / `--flag value` / `--flag` options anywhere on the line. Pure; unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook::cli {

// Exit codes `brook` promises to scripts (README "Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,     // the cluster refused or failed the request, or could not be reached
  kExitUsage = 2,     // bad command line: unknown command or flag, missing or malformed argument
  kExitNotFound = 3,  // the topic (or partition) does not exist
};

struct FlagSpec {
  std::string name;          // without dashes, e.g. "partitions"
  bool takes_value = false;  // false: a boolean switch (--flag, --flag=true|false)
  std::string help;
  std::string default_value;  // shown in --help; "" for none
  bool repeatable = false;    // may be given several times; every value counts (ParsedArgs::GetAll)
};

struct ParsedArgs {
  std::vector<std::string> words;            // every non-flag token, in order (command path, then positionals)
  std::map<std::string, std::string> flags;  // name -> value ("true" for a bare boolean); the last one if repeated
  std::map<std::string, std::vector<std::string>> all_values;  // name -> every value given, in order
  bool help = false;                                           // --help or -h anywhere

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Every value of a repeatable flag, in command-line order; empty when it is absent.
  std::vector<std::string> GetAll(const std::string& name) const;
  // Typed access; INVALID_ARGUMENT naming the flag when the value does not parse.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<bool> GetBool(const std::string& name) const;
};

// Splits `args` (argv without the program name). `value_flags` names every flag that takes a value (so that
// `--flag value` consumes the next token); others are boolean. A token "--" ends flag parsing. Fails with
// INVALID_ARGUMENT on a malformed token (e.g. "--" followed by nothing, or a value flag at the end).
absl::StatusOr<ParsedArgs> Tokenize(const std::vector<std::string>& args,
                                    const std::vector<std::string>& value_flags);

// Checks every flag in `parsed` against `allowed`: INVALID_ARGUMENT for an unknown flag or a boolean given a
// value that is not true/false, or a value flag given none.
absl::Status CheckFlags(const ParsedArgs& parsed, const std::vector<FlagSpec>& allowed);

// Record headers from `--header K=V` values: split at the first '=' (V may be empty and may hold '='), in order,
// duplicates kept. INVALID_ARGUMENT naming the value when it has no '=' or an empty K.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseHeaders(
    const std::vector<std::string>& values);

}  // namespace brook::cli
