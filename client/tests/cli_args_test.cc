#include <sstream>

#include "client/cli/args.h"
#include "client/cli/commands.h"
#include "client/cli/context.h"
#include "client/cli/output.h"
#include "client/lib/connection.h"
#include "gtest/gtest.h"

namespace brook::cli {
namespace {

TEST(Tokenize, SplitsWordsAndFlagsInBothForms) {
  auto p = Tokenize({"topic", "--partitions", "6", "create", "orders", "--no-wait", "--output=json"},
                    {"partitions", "output"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->words, (std::vector<std::string>{"topic", "create", "orders"}));
  EXPECT_EQ(p->Get("partitions"), "6");
  EXPECT_EQ(p->Get("output"), "json");
  EXPECT_EQ(p->Get("no-wait"), "true");
  EXPECT_FALSE(p->help);
}

TEST(Tokenize, DoubleDashEndsFlags) {
  auto p = Tokenize({"produce", "--", "--not-a-flag"}, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->words, (std::vector<std::string>{"produce", "--not-a-flag"}));
}

TEST(Tokenize, RejectsMalformedOptions) {
  EXPECT_FALSE(Tokenize({"-x"}, {}).ok());
  EXPECT_FALSE(Tokenize({"--partitions"}, {"partitions"}).ok()) << "a value flag at the end has no value";
  EXPECT_FALSE(Tokenize({"--=3"}, {}).ok());
}

TEST(Tokenize, KeepsEveryValueOfARepeatedFlagInOrder) {
  auto p = Tokenize({"produce", "t", "--header", "a=1", "--header=b=2=3", "--key=k", "--header", "c="},
                    {"header", "key"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->GetAll("header"), (std::vector<std::string>{"a=1", "b=2=3", "c="}));
  EXPECT_EQ(p->Get("header"), "c=") << "Get sees the last value";
  EXPECT_EQ(p->GetAll("key"), (std::vector<std::string>{"k"}));
  EXPECT_TRUE(p->GetAll("absent").empty());
  EXPECT_EQ(p->words, (std::vector<std::string>{"produce", "t"}));
}

TEST(ParseHeaders, SplitsAtTheFirstEqualsSignKeepingOrderAndDuplicates) {
  auto h = ParseHeaders({"trace=abc", "empty=", "eq=a=b", "dup=1", "dup=2"});
  ASSERT_TRUE(h.ok()) << h.status();
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(*h, (Pairs{{"trace", "abc"}, {"empty", ""}, {"eq", "a=b"}, {"dup", "1"}, {"dup", "2"}}));
  EXPECT_TRUE(ParseHeaders({})->empty());
}

TEST(ParseHeaders, RejectsAValueWithoutKey) {
  auto no_equals = ParseHeaders({"ok=1", "trace"});
  ASSERT_FALSE(no_equals.ok());
  EXPECT_NE(no_equals.status().message().find("'trace'"), std::string::npos) << no_equals.status();
  EXPECT_FALSE(ParseHeaders({"=value"}).ok()) << "an empty key";
}

TEST(ParseCommandLine, HeaderIsARepeatableFlagOfProduceOnly) {
  auto inv = ParseCommandLine({"produce", "orders", "--header", "a=1", "--value=v", "--header=b=2"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->positionals, (std::vector<std::string>{"orders"}));
  EXPECT_EQ(inv->args.GetAll("header"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_FALSE(ParseCommandLine({"consume", "orders", "--header=a=1"}).ok()) << "consume has no --header";
  EXPECT_FALSE(ParseCommandLine({"produce", "orders", "--header"}).ok()) << "--header needs a value";
  auto help = ParseCommandLine({"produce", "--help"});
  ASSERT_TRUE(help.ok());
  const std::string text = CommandHelp(*help->command);
  EXPECT_NE(text.find("--header=VALUE"), std::string::npos) << text;
  EXPECT_NE(text.find("(repeatable)"), std::string::npos) << text;
}

TEST(ParseCommandLine, FindsCommandAndPositionals) {
  auto inv = ParseCommandLine({"--bootstrap=a:1", "topic", "create", "orders", "--partitions=4"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_NE(inv->command, nullptr);
  EXPECT_EQ(inv->command->path, (std::vector<std::string>{"topic", "create"}));
  EXPECT_EQ(inv->positionals, (std::vector<std::string>{"orders"}));
  EXPECT_EQ(*inv->args.GetInt("partitions", 0), 4);
}

TEST(ParseCommandLine, RejectsUnknownCommandsFlagsAndArguments) {
  EXPECT_FALSE(ParseCommandLine({}).ok());
  EXPECT_FALSE(ParseCommandLine({"frobnicate"}).ok());
  EXPECT_FALSE(ParseCommandLine({"topic"}).ok()) << "a group needs a subcommand";
  EXPECT_FALSE(ParseCommandLine({"topic", "explode"}).ok());
  EXPECT_FALSE(ParseCommandLine({"topic", "list", "--partitions=3"}).ok()) << "flag of another command";
  EXPECT_FALSE(ParseCommandLine({"topic", "create"}).ok()) << "missing NAME";
  EXPECT_FALSE(ParseCommandLine({"topic", "describe", "a", "b"}).ok()) << "extra argument";
  EXPECT_FALSE(ParseCommandLine({"topic", "list", "--output=xml"}).ok());
  EXPECT_FALSE(ParseCommandLine({"consume", "t", "--follow=maybe"}).ok());
  EXPECT_FALSE(ParseCommandLine({"topic", "list", "--timeout-ms=0"}).ok());
}

TEST(ParseCommandLine, HelpWorksAtEveryLevel) {
  auto top = ParseCommandLine({"--help"});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->command, nullptr);
  auto group = ParseCommandLine({"topic", "-h"});
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(group->group, (std::vector<std::string>{"topic"}));
  auto cmd = ParseCommandLine({"bench", "produce", "--help"});
  ASSERT_TRUE(cmd.ok());
  ASSERT_NE(cmd->command, nullptr);
  EXPECT_NE(CommandHelp(*cmd->command).find("--record-size"), std::string::npos);
  EXPECT_NE(GroupHelp({}).find("cluster status"), std::string::npos);
}

TEST(RunCli, UsageErrorsExitTwoWithoutTouchingTheNetwork) {
  std::istringstream in;
  std::ostringstream out, err;
  EXPECT_EQ(RunCli({"topic", "create"}, Io{in, out, err}), kExitUsage);
  EXPECT_NE(err.str().find("needs NAME"), std::string::npos) << err.str();
  EXPECT_EQ(RunCli({"--help"}, Io{in, out, err}), kExitOk);
  EXPECT_NE(out.str().find("exit codes"), std::string::npos);
  // Nothing listens here: a usage error must be found before any call.
  EXPECT_EQ(RunCli({"--bootstrap=127.0.0.1:1", "produce", "t", "--value=v", "--header=novalue"}, Io{in, out, err}),
            kExitUsage);
  EXPECT_NE(err.str().find("--header wants KEY=VALUE"), std::string::npos) << err.str();
}

TEST(Bootstrap, ParsesCommaSeparatedAddresses) {
  EXPECT_EQ(client::ParseBootstrap(" a:1, b:2,,c:3 "), (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  client::ClientOptions bad;
  bad.bootstrap = {"nohostport"};
  EXPECT_FALSE(client::Connection::Create(bad).ok());
  EXPECT_FALSE(client::Connection::Create(client::ClientOptions{}).ok());
}

TEST(Output, JsonEscapesAndNests) {
  JsonWriter w;
  w.BeginObject().Key("a").String("x\"y\n").Key("b").BeginArray().Uint(1).Int(-2).EndArray();
  w.Key("c").Bool(true).EndObject();
  EXPECT_EQ(w.str(), R"({"a":"x\"y\n","b":[1,-2],"c":true})");
  EXPECT_EQ(JsonString(std::string("\xff", 1)), "\"\\u00ff\"");
  EXPECT_EQ(JsonString("h\xc3\xa9"), "\"h\xc3\xa9\"") << "valid UTF-8 passes through";
}

TEST(Output, TableAlignsColumns) {
  Table t({"A", "LONGER"});
  t.AddRow({"xyz", "1"});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(), "A    LONGER\nxyz  1\n");
}

TEST(Output, HeadersForATerminal) {
  EXPECT_EQ(PrintableHeaders({}), "");
  EXPECT_EQ(PrintableHeaders({{"trace", "abc"}, {"empty", ""}, {"tab", "x\ty"}, {"bin", std::string("\x01", 1)}}),
            "trace=abc,empty=,tab=x\\ty,bin=\\x01");
}

TEST(Output, PercentileByNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 0.5), 500);
  EXPECT_EQ(Percentile(v, 0.99), 990);
  EXPECT_EQ(Percentile(v, 0.999), 999);
  EXPECT_EQ(Percentile({}, 0.5), 0);
}

}  // namespace
}  // namespace brook::cli
