// `brook consume --group` and `brook group list|describe|delete|reset-offsets`: consumer groups from the command
// line (docs/api.md "Consumer groups").
#include <csignal>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/context.h"
#include "client/cli/output.h"
#include "client/lib/group_admin.h"
#include "client/lib/group_consumer.h"

namespace brook::cli {
namespace {

std::string StateName(v1::DescribeGroupResponse::State s) {
  switch (s) {
    case v1::DescribeGroupResponse::EMPTY:
      return "EMPTY";
    case v1::DescribeGroupResponse::STABLE:
      return "STABLE";
    case v1::DescribeGroupResponse::RECONCILING:
      return "RECONCILING";
    default:
      return "UNKNOWN";
  }
}

std::string PartitionsText(const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& set) {
  std::vector<std::string> parts;
  for (const auto& tp : set) parts.push_back(absl::StrCat(tp.topic(), ":", absl::StrJoin(tp.partitions(), ",")));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

void WritePartitions(JsonWriter& w, const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& set) {
  w.BeginArray();
  for (const auto& tp : set) {
    w.BeginObject().Key("topic").String(tp.topic()).Key("partitions").BeginArray();
    for (uint32_t p : tp.partitions()) w.Uint(p);
    w.EndArray().EndObject();
  }
  w.EndArray();
}

}  // namespace

int ConsumeInGroup(Context& ctx) {
  if (ctx.args.Has("partition") || ctx.args.Has("offset") || ctx.args.Has("timestamp")) {
    return UsageError(ctx, "--group reads what the group assigns: drop --partition, --offset and --timestamp");
  }
  auto follow = ctx.args.GetBool("follow");
  auto from_beginning = ctx.args.GetBool("from-beginning");
  uint64_t max_records = 0;
  if (!follow.ok() || !from_beginning.ok() || !absl::SimpleAtoi(ctx.args.Get("max-records", "0"), &max_records)) {
    return UsageError(ctx, "bad --follow, --from-beginning or --max-records value");
  }
  client::GroupConsumerOptions options;
  options.group = ctx.args.Get("group");
  options.topics = {ctx.positionals[0]};
  options.instance_id = ctx.args.Get("instance-id");
  options.auto_offset_reset =
      *follow && !*from_beginning ? client::OffsetSpec::kLatest : client::OffsetSpec::kEarliest;
  // Without --follow: read each partition this member gets up to its end at the time it got it.
  std::map<client::GroupPartition, uint64_t> end;
  client::GroupAdmin admin(ctx.connection);
  absl::Status end_error;
  options.on_assigned = [&](const std::vector<client::GroupPartition>& added) {
    if (*follow) return;
    for (const auto& tp : added) {
      auto r = admin.ListOffsets(tp.topic, tp.partition, v1::ListOffsetsRequest::LATEST);
      if (!r.ok()) end_error.Update(r.status());
      end[tp] = r.ok() ? r->offset() : 0;
    }
  };
  // Commits cover what was printed, never more: no auto-commit (it would commit every record Poll returned,
  // including those past --max-records or the snapshot's end); the printed positions are committed every 5 s,
  // before a partition is given up, and at the end.
  options.auto_commit = false;
  std::map<client::GroupPartition, uint64_t> printed_next;  // owned partition -> offset after the last printed
  client::GroupConsumer* member = nullptr;
  auto commit = [&](const std::vector<client::GroupPartition>& which) {
    std::map<client::GroupPartition, uint64_t> offsets;
    for (const auto& tp : which) {
      if (auto it = printed_next.find(tp); it != printed_next.end()) offsets[tp] = it->second;
    }
    if (offsets.empty() || member == nullptr) return absl::OkStatus();
    absl::Status s = member->CommitOffsets(offsets);
    if (!s.ok()) ctx.io.err << "brook: warning: commit failed (the records will be read again): " << s << '\n';
    return s;
  };
  options.on_revoked = [&](const std::vector<client::GroupPartition>& given_up) {
    (void)commit(given_up);
    for (const auto& tp : given_up) printed_next.erase(tp);
  };
  options.on_lost = [&](const std::vector<client::GroupPartition>& lost) {
    for (const auto& tp : lost) printed_next.erase(tp);
  };
  auto consumer = client::GroupConsumer::Create(ctx.connection, options);
  if (!consumer.ok()) return UsageError(ctx, std::string(consumer.status().message()));
  client::GroupConsumer& c = **consumer;
  member = &c;
  auto next_commit = client::Clock::now() + std::chrono::seconds(5);

  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, OnInterrupt);
  if (!ctx.json) ctx.io.out << "PARTITION\tOFFSET\tKEY\tVALUE\tHEADERS\n";
  uint64_t printed = 0;
  int exit_code = kExitOk;
  auto idle_since = client::Clock::now();
  // Done (without --follow) once a member whose every partition has reached the end it had when assigned.
  auto done = [&] {
    if (*follow || c.member_epoch() == 0 || c.Assignment().empty()) return false;
    for (const auto& tp : c.Assignment()) {
      auto e = end.find(tp);
      if (e == end.end() || c.Position(tp).value_or(0) < e->second) return false;
    }
    return true;
  };
  while (!g_interrupted.load() && (max_records == 0 || printed < max_records)) {
    auto result = c.Poll(std::chrono::milliseconds(500));
    if (!result.ok()) {
      exit_code = Fail(ctx, result.status());
      break;
    }
    if (!end_error.ok()) {
      exit_code = Fail(ctx, end_error);
      break;
    }
    for (const auto& r : result->records) {
      if (max_records != 0 && printed >= max_records) break;
      auto e = end.find({r.topic, r.partition});
      if (!*follow && e != end.end() && r.record.offset() >= e->second) continue;  // past the snapshot
      PrintRecord(ctx, r);
      ++printed;
      printed_next[{r.topic, r.partition}] = r.record.offset() + 1;
    }
    ctx.io.out.flush();
    if (client::Clock::now() >= next_commit) {
      next_commit = client::Clock::now() + std::chrono::seconds(5);
      (void)commit(c.Assignment());
    }
    if (done()) break;
    if (!result->empty()) {
      idle_since = client::Clock::now();
    } else if (!*follow && client::Clock::now() - idle_since > ctx.timeout) {
      exit_code = Fail(ctx, absl::DeadlineExceededError("no progress towards the end within --timeout-ms"));
      break;
    }
  }
  std::signal(SIGINT, previous);
  absl::Status committed = commit(c.Assignment());
  absl::Status closed = c.Close();  // leaves the group
  if (exit_code == kExitOk && !committed.ok()) return Fail(ctx, committed);
  if (exit_code == kExitOk && !closed.ok()) return Fail(ctx, closed);
  return exit_code;
}

int GroupList(Context& ctx) {
  client::GroupAdmin admin(ctx.connection);
  auto groups = admin.ListGroups();
  if (!groups.ok()) return Fail(ctx, groups.status());
  if (ctx.json) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& g : *groups) {
      w.BeginObject().Key("group").String(g.group()).Key("state").String(StateName(g.state()));
      w.Key("members").Uint(g.members()).Key("group_epoch").Uint(g.group_epoch());
      w.Key("committed_offsets").Uint(g.committed_offsets()).EndObject();
    }
    w.EndArray();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"GROUP", "STATE", "MEMBERS", "EPOCH", "OFFSETS"});
  for (const auto& g : *groups) {
    table.AddRow({g.group(), StateName(g.state()), absl::StrCat(g.members()), absl::StrCat(g.group_epoch()),
                  absl::StrCat(g.committed_offsets())});
  }
  table.Print(ctx.io.out);
  return kExitOk;
}

int GroupDescribe(Context& ctx) {
  client::GroupAdmin admin(ctx.connection);
  auto d = admin.DescribeGroup(ctx.positionals[0]);
  if (!d.ok()) return Fail(ctx, d.status());
  const v1::DescribeGroupResponse& g = d->group;
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("group").String(g.group()).Key("state").String(StateName(g.state()));
    w.Key("group_epoch").Uint(g.group_epoch()).Key("assignor").String(g.assignor());
    w.Key("rebalances").Uint(g.rebalances()).Key("coordinator_partition").Uint(g.coordinator_partition());
    w.Key("coordinator_node").Uint(g.coordinator_node()).Key("total_lag").Uint(d->total_lag);
    w.Key("members").BeginArray();
    for (const auto& m : g.members()) {
      w.BeginObject().Key("member_id").String(m.member_id()).Key("instance_id").String(m.instance_id());
      w.Key("member_epoch").Uint(m.member_epoch()).Key("away").Bool(m.away()).Key("assignment");
      WritePartitions(w, m.assignment());
      w.Key("revoking");
      WritePartitions(w, m.revoking());
      w.EndObject();
    }
    w.EndArray().Key("partitions").BeginArray();
    for (const auto& p : d->partitions) {
      w.BeginObject().Key("topic").String(p.topic).Key("partition").Uint(p.partition);
      w.Key("owner").String(p.owner).Key("committed").Bool(p.committed).Key("offset").Uint(p.offset);
      w.Key("high_watermark").Uint(p.high_watermark).Key("lag").Uint(p.lag).Key("known").Bool(p.known);
      w.EndObject();
    }
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  ctx.io.out << "group " << g.group() << "  state " << StateName(g.state()) << "  epoch " << g.group_epoch()
             << "  assignor " << g.assignor() << "  rebalances " << g.rebalances() << "  coordinator n"
             << g.coordinator_node() << " ("
             << "__consumer_groups/" << g.coordinator_partition() << ")  total lag " << d->total_lag << "\n\n";
  Table members({"MEMBER", "INSTANCE", "EPOCH", "ASSIGNMENT", "REVOKING"});
  for (const auto& m : g.members()) {
    members.AddRow({m.member_id(), m.instance_id().empty() ? "-" : m.instance_id() + (m.away() ? " (away)" : ""),
                    absl::StrCat(m.member_epoch()), PartitionsText(m.assignment()), PartitionsText(m.revoking())});
  }
  if (members.rows() > 0) {
    members.Print(ctx.io.out);
    ctx.io.out << '\n';
  }
  Table parts({"TOPIC", "PARTITION", "OWNER", "COMMITTED-OFFSET", "HIGH-WATERMARK", "LAG"});
  for (const auto& p : d->partitions) {
    parts.AddRow({p.topic, absl::StrCat(p.partition), p.owner.empty() ? "-" : p.owner,
                  p.committed ? absl::StrCat(p.offset) : "-", p.known ? absl::StrCat(p.high_watermark) : "?",
                  p.committed && p.known ? absl::StrCat(p.lag) : "-"});
  }
  parts.Print(ctx.io.out);
  return kExitOk;
}

int GroupDelete(Context& ctx) {
  client::GroupAdmin admin(ctx.connection);
  if (absl::Status s = admin.DeleteGroup(ctx.positionals[0]); !s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    ctx.io.out << JsonWriter().BeginObject().Key("deleted").String(ctx.positionals[0]).EndObject().str() << '\n';
  } else {
    ctx.io.out << "deleted group '" << ctx.positionals[0] << "'\n";
  }
  return kExitOk;
}

int GroupResetOffsets(Context& ctx) {
  client::ResetSpec spec;
  int ways = 0;
  for (const char* flag : {"to-earliest", "to-latest", "to-timestamp", "shift-by", "to-offset"}) {
    ways += ctx.args.Has(flag) ? 1 : 0;
  }
  if (ways != 1) {
    return UsageError(ctx,
                      "give exactly one of --to-earliest, --to-latest, --to-timestamp, --shift-by, --to-offset");
  }
  bool ok = true;
  if (ctx.args.Has("to-latest")) {
    spec.kind = client::ResetSpec::Kind::kLatest;
  } else if (ctx.args.Has("to-timestamp")) {
    spec.kind = client::ResetSpec::Kind::kTimestamp;
    ok = absl::SimpleAtoi(ctx.args.Get("to-timestamp"), &spec.timestamp_ms) && spec.timestamp_ms >= 0;
  } else if (ctx.args.Has("shift-by")) {
    spec.kind = client::ResetSpec::Kind::kShift;
    ok = absl::SimpleAtoi(ctx.args.Get("shift-by"), &spec.shift);
  } else if (ctx.args.Has("to-offset")) {
    spec.kind = client::ResetSpec::Kind::kOffset;
    ok = absl::SimpleAtoi(ctx.args.Get("to-offset"), &spec.offset);
  }
  std::vector<uint32_t> partitions;
  if (ctx.args.Has("partition")) {
    uint32_t p = 0;
    ok = ok && absl::SimpleAtoi(ctx.args.Get("partition"), &p);
    partitions.push_back(p);
  }
  auto dry_run = ctx.args.GetBool("dry-run");
  if (!ok || !dry_run.ok()) return UsageError(ctx, "a reset flag or --partition has a bad number");
  client::GroupAdmin admin(ctx.connection);
  const std::string& topic = ctx.positionals[1];
  auto set = admin.ResetOffsets(ctx.positionals[0], topic, spec, partitions, *dry_run);
  if (!set.ok()) return Fail(ctx, set.status());
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("group").String(ctx.positionals[0]).Key("topic").String(topic);
    w.Key("dry_run").Bool(*dry_run).Key("offsets").BeginArray();
    for (const auto& o : *set)
      w.BeginObject().Key("partition").Uint(o.partition()).Key("offset").Uint(o.offset()).EndObject();
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"PARTITION", "NEW-OFFSET"});
  for (const auto& o : *set) table.AddRow({absl::StrCat(o.partition()), absl::StrCat(o.offset())});
  table.Print(ctx.io.out);
  if (*dry_run) ctx.io.out << "(dry run: nothing stored)\n";
  return kExitOk;
}

}  // namespace brook::cli
