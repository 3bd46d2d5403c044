// The `brook` command-line tool: its command table and entry point.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/args.h"
#include "client/cli/context.h"

namespace brook::cli {

struct CommandSpec {
  std::vector<std::string> path;  // e.g. {"topic", "create"}
  std::string arguments;          // positional arguments for usage, e.g. "NAME"
  size_t min_positionals = 0;
  size_t max_positionals = 0;
  std::string summary;
  std::vector<FlagSpec> flags;  // besides the global flags
  int (*run)(Context&) = nullptr;
};

const std::vector<CommandSpec>& Commands();
const std::vector<FlagSpec>& GlobalFlags();

// A parsed command line: the command, its flags, and its positional arguments.
struct Invocation {
  const CommandSpec* command = nullptr;  // null with help: top-level or group help
  std::vector<std::string> group;        // the words matched when command is null (e.g. {"topic"})
  ParsedArgs args;
  std::vector<std::string> positionals;
};

// Finds the command and checks flags and argument counts. INVALID_ARGUMENT with a message for the user on any
// problem. With --help the result may have no command (help for a group or for everything).
absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args);

// Help text: for a command, for a group of commands, or (empty group) for the whole tool.
std::string CommandHelp(const CommandSpec& command);
std::string GroupHelp(const std::vector<std::string>& group);

// Runs the tool with `args` (argv without the program name). Returns the exit code.
int RunCli(const std::vector<std::string>& args, Io io);

}  // namespace brook::cli
