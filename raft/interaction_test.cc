// Script-driven scenario tests (the etcd-raft datadriven style). Each testdata/*.txt file is a list of blocks:
//
//   # comments
//   command arg arg key=value
//   ----
//   expected output (up to the next blank line)
//
// The driver runs every command against a sim::Cluster and compares its output. Run with --rewrite to regenerate
// the expectations (then review the diff: it is the behaviour change).
//
// Commands (one small handler each, see kHandlers):
//   add-nodes N [joining] [pre-vote=false] [check-quorum=false] [max-inflight=N] [max-msg-bytes=N]
//             [unsafe-commit-old-terms=true]
//   campaign ID | propose ID DATA [records=N] | propose-conf-change ID
//   add-learner|promote-learner|remove-node|add-voter NODE transfer-leadership FROM TO | tick ID [N] |
//   process-ready ID... | deliver-msgs [ID] [drop=ID] stabilize | partition A B / C D | cut FROM TO | heal | crash
//   ID | restart ID | compact ID raft-log ID | status ID | raft-state | log-level on|off
//   inject TO from=ID type=TYPE [term=N] [log-term=N] [index=N] [commit=N] [entries=T/I,T/I...] [reject=true]
//          [hint=T/I] [context=N] [snapshot=T/I] [voters=A,B] [learners=A,B]
//          steps a hand-made message (a forgery) straight into node TO and says whether it was dropped and why;
//          TYPE is append, heartbeat, snapshot, vote, pre-vote, timeout-now, their -response, or a number
//   dropped ID    the node's dropped-message counters
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "raft/sim/cluster.h"

namespace brook::raft {
namespace {

struct Command {
  std::string name;
  std::vector<std::string> args;          // Positional.
  std::map<std::string, std::string> kv;  // key=value.
  NodeId Id(size_t i) const { return std::stoull(args.at(i)); }
};

Command Parse(const std::string& line) {
  Command c;
  std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
  c.name = words.at(0);
  for (size_t i = 1; i < words.size(); ++i) {
    auto eq = words[i].find('=');
    if (eq == std::string::npos) {
      c.args.push_back(words[i]);
    } else {
      c.kv[words[i].substr(0, eq)] = words[i].substr(eq + 1);
    }
  }
  return c;
}

std::string StatusLine(const absl::Status& s) { return s.ok() ? "ok" : absl::StrCat("error: ", s.ToString()); }

class Driver {
 public:
  std::vector<std::string> Run(const Command& c) {
    out_.clear();
    auto it = Handlers().find(c.name);
    if (it == Handlers().end()) {
      out_.push_back(absl::StrCat("unknown command ", c.name));
    } else {
      (this->*(it->second))(c);
    }
    return out_;
  }

 private:
  using Handler = void (Driver::*)(const Command&);
  static const std::map<std::string, Handler>& Handlers() {
    static const auto* handlers = new std::map<std::string, Handler>{
        {"add-nodes", &Driver::AddNodes},
        {"campaign", &Driver::Campaign},
        {"propose", &Driver::Propose},
        {"propose-conf-change", &Driver::ProposeConfChange},
        {"transfer-leadership", &Driver::Transfer},
        {"tick", &Driver::Tick},
        {"process-ready", &Driver::ProcessReady},
        {"deliver-msgs", &Driver::DeliverMsgs},
        {"stabilize", &Driver::Stabilize},
        {"partition", &Driver::Partition},
        {"cut", &Driver::Cut},
        {"heal", &Driver::Heal},
        {"crash", &Driver::Crash},
        {"restart", &Driver::Restart},
        {"compact", &Driver::Compact},
        {"raft-log", &Driver::RaftLog},
        {"status", &Driver::Status},
        {"raft-state", &Driver::RaftState},
        {"log-level", &Driver::LogLevel},
        {"inject", &Driver::Inject},
        {"dropped", &Driver::Dropped},
    };
    return *handlers;
  }

  void AddNodes(const Command& c) {
    if (!cluster_) {
      Config base;
      base.logger = [this](std::string_view line) {
        if (log_on_) out_.push_back(std::string(line));
      };
      if (c.kv.contains("pre-vote")) base.pre_vote = c.kv.at("pre-vote") == "true";
      if (c.kv.contains("check-quorum")) base.check_quorum = c.kv.at("check-quorum") == "true";
      if (c.kv.contains("max-inflight")) base.max_inflight_msgs = std::stoull(c.kv.at("max-inflight"));
      if (c.kv.contains("max-msg-bytes")) base.max_msg_bytes = std::stoull(c.kv.at("max-msg-bytes"));
      base.unsafe_commit_by_counting_old_terms = c.kv.contains("unsafe-commit-old-terms");
      cluster_ = std::make_unique<sim::Cluster>(base);
    }
    const bool joining = !c.args.empty() && c.args.size() > 1 && c.args[1] == "joining";
    absl::Status s = cluster_->AddNodes(std::stoi(c.args.at(0)),
                                        joining ? std::optional<ConfState>(ConfState{}) : std::nullopt);
    out_.push_back(StatusLine(s));
  }

  void Campaign(const Command& c) { cluster_->node(c.Id(0)).Campaign(); }

  void Propose(const Command& c) {
    uint32_t records = c.kv.contains("records") ? std::stoul(c.kv.at("records")) : 1;
    auto r = cluster_->node(c.Id(0)).Propose(c.args.at(1), records);
    out_.push_back(r.ok() ? absl::StrCat("index=", r->index, " term=", r->term, " base_offset=", r->base_offset)
                          : StatusLine(r.status()));
  }

  void ProposeConfChange(const Command& c) {
    static const std::map<std::string, ConfChangeType> kTypes = {
        {"add-voter", ConfChangeType::kAddVoter},
        {"add-learner", ConfChangeType::kAddLearner},
        {"remove-node", ConfChangeType::kRemoveNode},
        {"promote-learner", ConfChangeType::kPromoteLearner}};
    ConfChange cc{kTypes.at(c.args.at(1)), c.Id(2)};
    auto r = cluster_->node(c.Id(0)).ProposeConfChange(cc);
    out_.push_back(r.ok() ? absl::StrCat("index=", r->index, " term=", r->term) : StatusLine(r.status()));
  }

  void Transfer(const Command& c) {
    out_.push_back(StatusLine(cluster_->node(c.Id(0)).TransferLeadership(c.Id(1))));
  }

  void Tick(const Command& c) { cluster_->Tick(c.Id(0), c.args.size() > 1 ? std::stoi(c.args[1]) : 1); }

  void ProcessReady(const Command& c) {
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (!cluster_->ProcessReady(c.Id(i), &out_)) out_.push_back(absl::StrCat("> n", c.Id(i), " has no ready"));
    }
  }

  void DeliverMsgs(const Command& c) {
    std::set<NodeId> drop;
    if (c.kv.contains("drop")) drop.insert(std::stoull(c.kv.at("drop")));
    std::optional<NodeId> to;
    if (!c.args.empty()) to = c.Id(0);
    cluster_->Deliver(to, drop, &out_);
  }

  void Stabilize(const Command& c) { cluster_->Stabilize(&out_); }

  void Partition(const Command& c) {
    std::vector<std::vector<NodeId>> groups(1);
    for (const std::string& a : c.args) {
      if (a == "/") {
        groups.emplace_back();
      } else {
        groups.back().push_back(std::stoull(a));
      }
    }
    cluster_->Partition(groups);
  }

  void Cut(const Command& c) { cluster_->Cut(c.Id(0), c.Id(1)); }
  void Heal(const Command& c) { cluster_->Heal(); }
  void Crash(const Command& c) { out_.push_back(StatusLine(cluster_->Crash(c.Id(0)))); }
  void Restart(const Command& c) { out_.push_back(StatusLine(cluster_->Restart(c.Id(0)))); }

  void Compact(const Command& c) {
    sim::Replica& r = cluster_->replica(c.Id(0));
    absl::Status s = r.Compact(r.applied);
    if (s.ok()) r.raft->Compact(r.applied);
    out_.push_back(s.ok() ? absl::StrCat("n", r.id, " log starts after ", r.applied) : StatusLine(s));
  }

  void RaftLog(const Command& c) {
    for (absl::string_view line : absl::StrSplit(sim::DescribeLog(cluster_->replica(c.Id(0))), '\n')) {
      out_.push_back(std::string(line));
    }
  }

  void Status(const Command& c) {
    for (absl::string_view line : absl::StrSplit(sim::DescribeStatus(cluster_->node(c.Id(0))), '\n')) {
      out_.push_back(std::string(line));
    }
  }

  void RaftState(const Command& c) {
    for (NodeId id : cluster_->ids()) {
      const sim::Replica& r = cluster_->replica(id);
      if (r.down) {
        out_.push_back(absl::StrCat("n", id, " down"));
        continue;
      }
      const RaftNode& n = *r.raft;
      out_.push_back(absl::StrCat("n", id, " ", RoleName(n.role()), " term=", n.term(), " leader=", n.leader(),
                                  " last=", n.last_index(), " commit=", n.commit_index(),
                                  " applied=", n.applied_index()));
    }
  }

  void LogLevel(const Command& c) { log_on_ = c.args.at(0) == "on"; }

  static MessageType ParseType(const std::string& name) {
    static const std::map<std::string, MessageType> kTypes = {
        {"pre-vote", MessageType::kPreVote},    {"pre-vote-response", MessageType::kPreVoteResponse},
        {"vote", MessageType::kVote},           {"vote-response", MessageType::kVoteResponse},
        {"append", MessageType::kAppend},       {"append-response", MessageType::kAppendResponse},
        {"heartbeat", MessageType::kHeartbeat}, {"heartbeat-response", MessageType::kHeartbeatResponse},
        {"snapshot", MessageType::kSnapshot},   {"timeout-now", MessageType::kTimeoutNow}};
    auto it = kTypes.find(name);
    return it != kTypes.end() ? it->second : static_cast<MessageType>(std::stoul(name));
  }
  // "T/I" -> {term, index}.
  static std::pair<Term, Index> ParsePoint(const std::string& s) {
    std::vector<std::string> parts = absl::StrSplit(s, '/');
    return {std::stoull(parts.at(0)), std::stoull(parts.at(1))};
  }
  static std::vector<NodeId> ParseIds(const std::string& s) {
    std::vector<NodeId> ids;
    for (absl::string_view id : absl::StrSplit(s, ',', absl::SkipEmpty()))
      ids.push_back(std::stoull(std::string(id)));
    return ids;
  }

  void Inject(const Command& c) {
    auto num = [&](const char* key) -> uint64_t { return c.kv.contains(key) ? std::stoull(c.kv.at(key)) : 0; };
    Message m;
    m.to = c.Id(0);
    m.from = num("from");
    m.type = ParseType(c.kv.at("type"));
    m.term = num("term");
    m.log_term = num("log-term");
    m.index = num("index");
    m.commit = num("commit");
    m.context = num("context");
    m.reject = c.kv.contains("reject") && c.kv.at("reject") == "true";
    if (c.kv.contains("entries")) {
      for (absl::string_view point : absl::StrSplit(c.kv.at("entries"), ',', absl::SkipEmpty())) {
        Entry e;
        std::tie(e.term, e.index) = ParsePoint(std::string(point));
        m.entries.push_back(e);
      }
    }
    if (c.kv.contains("hint")) std::tie(m.reject_hint_term, m.reject_hint) = ParsePoint(c.kv.at("hint"));
    if (c.kv.contains("snapshot")) {
      std::tie(m.snapshot.term, m.snapshot.index) = ParsePoint(c.kv.at("snapshot"));
      m.snapshot_data = "forged";
    }
    if (c.kv.contains("voters")) m.snapshot.conf.voters = ParseIds(c.kv.at("voters"));
    if (c.kv.contains("learners")) m.snapshot.conf.learners = ParseIds(c.kv.at("learners"));
    out_.push_back(absl::StrCat("  ", DescribeMessage(m)));
    RaftNode& n = cluster_->node(m.to);
    const DroppedMessages before = n.dropped();
    absl::Status s = n.Step(m);
    if (s.ok()) {
      out_.push_back("  accepted");
      return;
    }
    std::string reason = "not counted";
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      if (n.dropped().by_reason[r] > before.by_reason[r]) reason = DropReasonName(static_cast<DropReason>(r));
    }
    out_.push_back(absl::StrCat("  dropped (", reason, "): ", s.ToString()));
  }

  void Dropped(const Command& c) {
    const DroppedMessages& d = cluster_->node(c.Id(0)).dropped();
    std::string line = absl::StrCat("n", c.Id(0), " dropped ", d.total());
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      if (d.by_reason[r] > 0)
        absl::StrAppend(&line, " ", DropReasonName(static_cast<DropReason>(r)), "=", d.by_reason[r]);
    }
    out_.push_back(line);
  }

  std::unique_ptr<sim::Cluster> cluster_;
  std::vector<std::string> out_;
  bool log_on_ = false;
};

struct Block {
  std::vector<std::string> comments;
  std::string command;
  std::vector<std::string> expected;
  int line = 0;
};

std::vector<Block> ReadBlocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<Block> blocks;
  std::string line;
  Block cur;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (absl::StartsWith(line, "#")) {
      cur.comments.push_back(line);
      continue;
    }
    cur.command = line;
    cur.line = n;
    if (std::getline(in, line)) {
      ++n;
      if (line == "----") {
        while (std::getline(in, line) && !line.empty()) {
          ++n;
          cur.expected.push_back(line);
        }
        ++n;
      }
    }
    blocks.push_back(std::move(cur));
    cur = Block();
  }
  return blocks;
}

std::string Flag(const std::string& name) {
  for (const std::string& arg : ::testing::internal::GetArgvs()) {
    if (absl::StartsWith(arg, "--" + name + "=")) return arg.substr(name.size() + 3);
    if (arg == "--" + name) return "true";
  }
  return "";
}

TEST(Interaction, TestdataScenarios) {
  std::string dir = Flag("testdata");
  if (dir.empty()) dir = "raft/testdata";
  const bool rewrite = !Flag("rewrite").empty();
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no scenarios in " << dir;
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    std::vector<Block> blocks = ReadBlocks(file.string());
    Driver driver;
    std::string rewritten;
    for (Block& b : blocks) {
      std::vector<std::string> got = driver.Run(Parse(b.command));
      if (got.empty()) got.push_back("ok");
      for (const std::string& c : b.comments) absl::StrAppend(&rewritten, c, "\n");
      absl::StrAppend(&rewritten, b.command, "\n----\n", absl::StrJoin(got, "\n"), "\n\n");
      if (!rewrite && got != b.expected) {
        ADD_FAILURE() << file.filename().string() << ":" << b.line << ": " << b.command << "\nexpected:\n  "
                      << absl::StrJoin(b.expected, "\n  ") << "\ngot:\n  " << absl::StrJoin(got, "\n  ");
        break;
      }
    }
    if (rewrite) {
      std::ofstream(file) << rewritten;
      std::printf("rewrote %s\n", file.string().c_str());
    }
  }
}

}  // namespace
}  // namespace brook::raft
