// `brook`: the command-line tool for Brook clusters. See client/README.md.
#include <iostream>
#include <string>
#include <vector>

#include "client/cli/commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  return brook::cli::RunCli(args, brook::cli::Io{std::cin, std::cout, std::cerr});
}
