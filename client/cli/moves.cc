// `brook topic move-replicas | cancel-move | add-partitions` and `brook cluster operations`: the elastic
// cluster's commands (docs/operations.md "Moving replicas").
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/cli/context.h"
#include "client/cli/output.h"
#include "client/lib/admin.h"

namespace brook::cli {
namespace {

absl::StatusOr<uint64_t> Number(const std::string& what, const std::string& text) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(text, &v))
    return absl::InvalidArgumentError(absl::StrCat(what, " '", text, "' is no number"));
  return v;
}

absl::StatusOr<std::vector<uint64_t>> NodeList(const std::string& text) {
  std::vector<uint64_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    auto n = Number("node id", std::string(part));
    if (!n.ok()) return n.status();
    out.push_back(*n);
  }
  if (out.empty()) return absl::InvalidArgumentError("--to names no node; give ids like 1,4,5");
  return out;
}

void WriteIds(JsonWriter& w, const google::protobuf::RepeatedField<uint64_t>& ids) {
  w.BeginArray();
  for (uint64_t id : ids) w.Uint(id);
  w.EndArray();
}

std::string StepText(const v1::MoveStep& s) {
  switch (s.kind()) {
    case v1::MoveStep::ADD_LEARNER:
      return absl::StrCat("add n", s.node_id(), " as a learner and copy the log");
    case v1::MoveStep::PROMOTE:
      return absl::StrCat("promote n", s.node_id(), " to voter once caught up");
    case v1::MoveStep::REMOVE:
      return absl::StrCat("remove n", s.node_id());
    case v1::MoveStep::TRANSFER_LEADER:
      return absl::StrCat("hand leadership to n", s.node_id());
    default:
      return "?";
  }
}

std::string Size(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return absl::StrCat(bytes >> 30, ".", ((bytes >> 20) & 1023) * 10 / 1024, " GiB");
  if (bytes >= (1ull << 20)) return absl::StrCat(bytes >> 20, " MiB");
  return absl::StrCat(bytes >> 10, " KiB");
}

}  // namespace

int TopicMoveReplicas(Context& ctx) {
  auto partition = Number("PARTITION", ctx.positionals[1]);
  if (!partition.ok()) return UsageError(ctx, std::string(partition.status().message()));
  if (!ctx.args.Has("to")) return UsageError(ctx, "give --to with the new replicas, like --to 1,4,5");
  auto to = NodeList(ctx.args.Get("to"));
  if (!to.ok()) return UsageError(ctx, std::string(to.status().message()));
  auto dry_run = ctx.args.GetBool("dry-run");
  if (!dry_run.ok()) return UsageError(ctx, std::string(dry_run.status().message()));
  client::Admin admin(ctx.connection);
  auto r = admin.MoveReplicas(ctx.positionals[0], static_cast<uint32_t>(*partition), *to, *dry_run);
  if (!r.ok()) return Fail(ctx, r.status());
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("topic").String(r->topic()).Key("partition").Uint(r->partition()).Key("from");
    WriteIds(w, r->from_replicas());
    w.Key("to");
    WriteIds(w, r->to_replicas());
    w.Key("plan").BeginArray();
    for (const auto& s : r->plan()) {
      w.BeginObject().Key("step").String(v1::MoveStep::Kind_Name(s.kind())).Key("node").Uint(s.node_id());
      w.EndObject();
    }
    w.EndArray().Key("started").Bool(r->started()).EndObject();
    ctx.io.out << w.str() << '\n';
    return 0;
  }
  ctx.io.out << r->topic() << "/" << r->partition() << ": replicas " << absl::StrJoin(r->from_replicas(), ",")
             << " -> " << absl::StrJoin(r->to_replicas(), ",") << "\n";
  int i = 0;
  for (const auto& s : r->plan()) ctx.io.out << "  " << ++i << ". " << StepText(s) << "\n";
  ctx.io.out << (r->started() ? "move started: follow it with 'brook cluster operations --wait'\n"
                              : "dry run: nothing changed\n");
  return 0;
}

int TopicCancelMove(Context& ctx) {
  auto partition = Number("PARTITION", ctx.positionals[1]);
  if (!partition.ok()) return UsageError(ctx, std::string(partition.status().message()));
  client::Admin admin(ctx.connection);
  auto r = admin.CancelMove(ctx.positionals[0], static_cast<uint32_t>(*partition));
  if (!r.ok()) return Fail(ctx, r.status());
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("replicas");
    WriteIds(w, r->replicas());
    ctx.io.out << w.EndObject().str() << '\n';
  } else {
    ctx.io.out << "move cancelled: " << ctx.positionals[0] << "/" << *partition << " goes back to replicas "
               << absl::StrJoin(r->replicas(), ",") << "\n";
  }
  return 0;
}

int TopicAddPartitions(Context& ctx) {
  if (!ctx.args.Has("count")) return UsageError(ctx, "give --count, the topic's partition count afterwards");
  auto count = Number("--count", ctx.args.Get("count"));
  if (!count.ok()) return UsageError(ctx, std::string(count.status().message()));
  client::Admin admin(ctx.connection);
  auto t = admin.AddPartitions(ctx.positionals[0], static_cast<uint32_t>(*count));
  if (!t.ok()) return Fail(ctx, t.status());
  if (ctx.json) {
    ctx.io.out << JsonWriter()
                      .BeginObject()
                      .Key("topic")
                      .String(t->name())
                      .Key("partition_count")
                      .Uint(t->partition_count())
                      .EndObject()
                      .str()
               << '\n';
  } else {
    ctx.io.out << "topic '" << t->name() << "' now has " << t->partition_count() << " partitions\n";
  }
  return 0;
}

namespace {

// `cluster remove N` is for a dead node: refused while the cluster hears from N.
absl::Status CheckDead(Context& ctx, uint64_t node) {
  client::Admin admin(ctx.connection);
  auto cluster = admin.DescribeCluster();
  if (!cluster.ok()) return cluster.status();
  for (const auto& n : cluster->nodes()) {
    if (n.id() == node && n.reachable()) {
      return absl::FailedPreconditionError(absl::StrCat("node ", node, " is up (node ", cluster->answered_by(),
                                                        " hears from it): 'cluster remove' is for a dead node; "
                                                        "drain a live one with 'brook cluster decommission ",
                                                        node, "'"));
    }
  }
  return absl::OkStatus();
}

// `cluster decommission N`, `cluster remove N` and `cluster replace N --with M`: one call (DecommissionNode).
int Decommission(Context& ctx, bool replace, bool remove = false) {
  auto node = Number("NODE", ctx.positionals[0]);
  if (!node.ok()) return UsageError(ctx, std::string(node.status().message()));
  if (remove) {
    if (auto s = CheckDead(ctx, *node); !s.ok()) return Fail(ctx, s);
  }
  auto dry_run = ctx.args.GetBool("dry-run");
  if (!dry_run.ok()) return UsageError(ctx, std::string(dry_run.status().message()));
  uint64_t replacement = 0;
  if (ctx.args.Has("with")) {
    auto with = Number("--with", ctx.args.Get("with"));
    if (!with.ok()) return UsageError(ctx, std::string(with.status().message()));
    replacement = *with;
  } else if (replace) {
    return UsageError(ctx, "give --with, the node that takes every replica of NODE");
  }
  auto cancel = ctx.args.GetBool("cancel");
  if (!cancel.ok()) return UsageError(ctx, std::string(cancel.status().message()));
  if (*cancel && replacement != 0) return UsageError(ctx, "--cancel and --with do not go together");
  client::Admin admin(ctx.connection);
  auto r = admin.DecommissionNode(*node, *dry_run, replacement, *cancel);
  if (!r.ok()) return Fail(ctx, r.status());
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("node").Uint(*node).Key("moves").BeginArray();
    for (const auto& m : r->moves()) {
      w.BeginObject().Key("topic").String(m.topic()).Key("partition").Uint(m.partition()).Key("from");
      WriteIds(w, m.from_replicas());
      w.Key("to");
      WriteIds(w, m.to_replicas());
      w.EndObject();
    }
    ctx.io.out << w.EndArray().Key("started").Bool(r->started()).EndObject().str() << '\n';
    return 0;
  }
  ctx.io.out << "node " << *node << ": " << r->moves_size()
             << (*cancel ? " running moves off it to cancel\n" : " partitions to move off\n");
  for (const auto& m : r->moves()) {
    ctx.io.out << "  " << m.topic() << "/" << m.partition() << ": " << absl::StrJoin(m.from_replicas(), ",")
               << " -> " << absl::StrJoin(m.to_replicas(), ",") << "\n";
  }
  if (!r->started()) {
    ctx.io.out << "dry run: nothing changed\n";
  } else if (*cancel) {
    ctx.io.out << "decommission cancelled: the node is active again; its partitions go back to where they were "
                  "(follow with 'brook cluster operations --wait')\n";
  } else {
    ctx.io.out << "decommission started: the node leaves the cluster once the moves are done "
                  "(follow with 'brook cluster operations --wait', then 'brook cluster status')\n";
  }
  return 0;
}

}  // namespace

int ClusterDecommission(Context& ctx) { return Decommission(ctx, false); }
int ClusterReplace(Context& ctx) { return Decommission(ctx, true); }
int ClusterRemove(Context& ctx) { return Decommission(ctx, false, /*remove=*/true); }

namespace {

void PrintOperations(Context& ctx, const v1::ListOperationsResponse& ops) {
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("moves").BeginArray();
    for (const auto& m : ops.moves()) {
      w.BeginObject().Key("topic").String(m.topic()).Key("partition").Uint(m.partition()).Key("from");
      WriteIds(w, m.from_replicas());
      w.Key("to");
      WriteIds(w, m.to_replicas());
      w.Key("cancelled").Bool(m.cancelled()).Key("leader").Uint(m.leader_id()).Key("voters");
      WriteIds(w, m.voters());
      w.Key("learners");
      WriteIds(w, m.learners());
      w.Key("records_copied").Uint(m.records_copied()).Key("records_total").Uint(m.records_total());
      w.Key("bytes_copied").Uint(m.bytes_copied()).Key("bytes_total").Uint(m.bytes_total());
      w.Key("started_ms").Int(m.started_ms()).EndObject();
    }
    ctx.io.out << w.EndArray().EndObject().str() << '\n';
    return;
  }
  if (ops.moves().empty()) {
    ctx.io.out << "no replica moves running\n";
    return;
  }
  Table table({"TOPIC", "PARTITION", "FROM", "TO", "STATE", "VOTERS", "LEARNERS", "RECORDS", "BYTES"});
  for (const auto& m : ops.moves()) {
    table.AddRow({m.topic(), absl::StrCat(m.partition()), absl::StrJoin(m.from_replicas(), ","),
                  absl::StrJoin(m.to_replicas(), ","), m.cancelled() ? "cancelling" : "moving",
                  absl::StrJoin(m.voters(), ","), absl::StrJoin(m.learners(), ","),
                  absl::StrCat(m.records_copied(), "/", m.records_total()),
                  absl::StrCat(Size(m.bytes_copied()), "/", Size(m.bytes_total()))});
  }
  table.Print(ctx.io.out);
}

}  // namespace

int ClusterOperations(Context& ctx) {
  auto wait = ctx.args.GetBool("wait");
  if (!wait.ok()) return UsageError(ctx, std::string(wait.status().message()));
  auto limit = Number("--wait-timeout-ms", ctx.args.Get("wait-timeout-ms", "3600000"));
  if (!limit.ok()) return UsageError(ctx, std::string(limit.status().message()));
  client::Admin admin(ctx.connection);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*limit);
  for (;;) {
    auto ops = admin.ListOperations();
    if (!ops.ok()) return Fail(ctx, ops.status());
    if (!*wait) {
      PrintOperations(ctx, *ops);
      return 0;
    }
    uint64_t copied = 0, total = 0;
    for (const auto& m : ops->moves()) {
      copied += m.records_copied();
      total += m.records_total();
    }
    if (ops->moves().empty()) {
      ctx.io.out << "no replica moves running\n";
      return 0;
    }
    ctx.io.out << ops->moves_size() << " moves running: " << copied << "/" << total << " records copied\n";
    ctx.io.out.flush();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(
          ctx, absl::DeadlineExceededError(absl::StrCat("moves still running after --wait-timeout-ms ", *limit)));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace brook::cli
