#include "client/cli/commands.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli/output.h"
#include "client/lib/admin.h"
#include "client/lib/compression.h"
#include "client/lib/consumer.h"
#include "client/lib/errors.h"
#include "client/lib/producer.h"

namespace brook::cli {

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

void PrintRecord(Context& ctx, const client::ConsumerRecord& r) {
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject();
    if (ctx.args.Has("group")) w.Key("topic").String(r.topic);
    w.Key("partition").Uint(r.partition).Key("offset").Uint(r.record.offset());
    w.Key("timestamp_ms").Int(r.record.timestamp_ms()).Key("key").String(r.record.key());
    w.Key("value").String(r.record.value());
    if (r.record.tombstone()) w.Key("tombstone").Bool(true);
    w.Key("headers").BeginArray();
    for (const auto& h : r.record.headers())
      w.BeginObject().Key("key").String(h.key()).Key("value").String(h.value()).EndObject();
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
    return;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : r.record.headers()) headers.emplace_back(h.key(), h.value());
  ctx.io.out << r.partition << '\t' << r.record.offset() << '\t' << Printable(r.record.key()) << '\t'
             << (r.record.tombstone() ? std::string("(tombstone)") : Printable(r.record.value())) << '\t'
             << PrintableHeaders(headers) << '\n';
}

namespace {

constexpr char kDefaultBootstrap[] = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103";

std::string JoinIds(const google::protobuf::RepeatedField<uint64_t>& ids) { return absl::StrJoin(ids, ","); }

// Cleanup policies as the CLI spells them (Kafka's words): delete, compact, compact,delete.
std::string CleanupPolicyName(v1::CleanupPolicy p) {
  switch (p) {
    case v1::CLEANUP_DELETE:
      return "delete";
    case v1::CLEANUP_COMPACT:
      return "compact";
    case v1::CLEANUP_COMPACT_DELETE:
      return "compact,delete";
    default:
      return absl::StrCat(static_cast<int>(p));
  }
}

absl::StatusOr<v1::CleanupPolicy> ParseCleanupPolicy(const std::string& text) {
  if (text == "delete") return v1::CLEANUP_DELETE;
  if (text == "compact") return v1::CLEANUP_COMPACT;
  if (text == "compact,delete" || text == "delete,compact") return v1::CLEANUP_COMPACT_DELETE;
  return absl::InvalidArgumentError(
      absl::StrCat("--cleanup-policy=", text, ": use delete, compact or compact,delete"));
}

void WriteTopic(JsonWriter& w, const v1::Topic& t) {
  w.BeginObject();
  w.Key("name").String(t.name());
  w.Key("topic_id").Uint(t.topic_id());
  w.Key("partition_count").Uint(t.partition_count());
  w.Key("replication_factor").Uint(t.replication_factor());
  w.Key("retention_ms").Uint(t.config().retention_ms());
  w.Key("retention_bytes").Uint(t.config().retention_bytes());
  w.Key("cleanup_policy").String(CleanupPolicyName(t.config().cleanup_policy()));
  w.Key("tombstone_retention_ms").Uint(t.config().tombstone_retention_ms());
  w.Key("min_compaction_lag_ms").Uint(t.config().min_compaction_lag_ms());
  w.Key("created_ms").Int(t.created_ms());
  if (t.partitions_size() > 0) {
    w.Key("partitions").BeginArray();
    for (const auto& p : t.partitions()) {
      w.BeginObject();
      w.Key("partition").Uint(p.partition());
      w.Key("leader").Uint(p.leader_id());
      w.Key("leader_term").Uint(p.leader_term());
      w.Key("replicas").BeginArray();
      for (uint64_t r : p.replicas()) w.Uint(r);
      w.EndArray();
      w.Key("caught_up_replicas").BeginArray();
      for (uint64_t r : p.caught_up_replicas()) w.Uint(r);
      w.EndArray().Key("target_replicas").BeginArray();
      for (uint64_t r : p.target_replicas()) w.Uint(r);
      w.EndArray();
      w.Key("high_watermark").Uint(p.high_watermark());
      w.Key("log_start_offset").Uint(p.log_start_offset());
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
}

absl::StatusOr<uint64_t> NonNegative(const ParsedArgs& args, const std::string& name, int64_t fallback) {
  auto v = args.GetInt(name, fallback);
  if (!v.ok()) return v.status();
  if (*v < 0) return absl::InvalidArgumentError(absl::StrCat("--", name, " must not be negative"));
  return static_cast<uint64_t>(*v);
}

// ---- topic ----

int TopicCreate(Context& ctx) {
  const std::string& name = ctx.positionals[0];
  auto partitions = NonNegative(ctx.args, "partitions", 3);
  auto rf = NonNegative(ctx.args, "replication-factor", 0);
  auto retention_ms = NonNegative(ctx.args, "retention-ms", 0);
  auto retention_bytes = NonNegative(ctx.args, "retention-bytes", 0);
  auto tombstone_retention_ms = NonNegative(ctx.args, "tombstone-retention-ms", 0);
  auto min_compaction_lag_ms = NonNegative(ctx.args, "min-compaction-lag-ms", 0);
  auto cleanup = ParseCleanupPolicy(ctx.args.Get("cleanup-policy", "delete"));
  auto no_wait = ctx.args.GetBool("no-wait");
  for (const absl::Status& s :
       {partitions.status(), rf.status(), retention_ms.status(), retention_bytes.status(),
        tombstone_retention_ms.status(), min_compaction_lag_ms.status(), cleanup.status(), no_wait.status()}) {
    if (!s.ok()) return UsageError(ctx, std::string(s.message()));
  }
  if (*partitions == 0) return UsageError(ctx, "--partitions must be at least 1");
  v1::TopicConfig config;
  config.set_retention_ms(*retention_ms);
  config.set_retention_bytes(*retention_bytes);
  config.set_cleanup_policy(*cleanup);
  config.set_tombstone_retention_ms(*tombstone_retention_ms);
  config.set_min_compaction_lag_ms(*min_compaction_lag_ms);
  client::Admin admin(ctx.connection);
  auto topic = admin.CreateTopic(name, static_cast<uint32_t>(*partitions), static_cast<uint32_t>(*rf), config);
  if (!topic.ok()) return Fail(ctx, topic.status());
  if (!*no_wait) {
    auto ready = admin.WaitForLeaders(name, ctx.timeout);
    if (!ready.ok()) return Fail(ctx, ready.status());
    *topic = *ready;
  }
  if (ctx.json) {
    JsonWriter w;
    WriteTopic(w, *topic);
    ctx.io.out << w.str() << '\n';
  } else {
    ctx.io.out << "created topic '" << name << "' with " << topic->partition_count()
               << " partitions, replication factor " << topic->replication_factor() << '\n';
  }
  return kExitOk;
}

int TopicList(Context& ctx) {
  client::Admin admin(ctx.connection);
  auto topics = admin.ListTopics();
  if (!topics.ok()) return Fail(ctx, topics.status());
  std::sort(topics->begin(), topics->end(), [](const auto& a, const auto& b) { return a.name() < b.name(); });
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("topics").BeginArray();
    for (const auto& t : *topics) WriteTopic(w, t);
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"NAME", "PARTITIONS", "REPLICATION", "RETENTION-MS", "RETENTION-BYTES", "CLEANUP"});
  for (const auto& t : *topics) {
    table.AddRow({t.name(), absl::StrCat(t.partition_count()), absl::StrCat(t.replication_factor()),
                  absl::StrCat(t.config().retention_ms()), absl::StrCat(t.config().retention_bytes()),
                  CleanupPolicyName(t.config().cleanup_policy())});
  }
  table.Print(ctx.io.out);
  return kExitOk;
}

void RefineTopicFromLeaders(Context& ctx, const std::map<uint64_t, std::string>& address, v1::Topic& t);
std::map<uint64_t, std::string> ClientAddresses(const v1::DescribeClusterResponse& cluster);

int TopicDescribe(Context& ctx) {
  client::Admin admin(ctx.connection);
  auto t = admin.DescribeTopic(ctx.positionals[0]);
  if (!t.ok()) return Fail(ctx, t.status());
  // The answering node knows caught-up replicas only for partitions it leads; ask the other leaders too.
  if (auto cluster = admin.DescribeCluster(); cluster.ok())
    RefineTopicFromLeaders(ctx, ClientAddresses(*cluster), *t);
  if (ctx.json) {
    JsonWriter w;
    WriteTopic(w, *t);
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  ctx.io.out << "topic " << t->name() << "  id " << t->topic_id() << "  partitions " << t->partition_count()
             << "  replication " << t->replication_factor() << "  retention-ms " << t->config().retention_ms()
             << "  retention-bytes " << t->config().retention_bytes() << "  cleanup-policy "
             << CleanupPolicyName(t->config().cleanup_policy());
  if (t->config().cleanup_policy() != v1::CLEANUP_DELETE) {
    ctx.io.out << "  tombstone-retention-ms " << t->config().tombstone_retention_ms() << "  min-compaction-lag-ms "
               << t->config().min_compaction_lag_ms();
  }
  ctx.io.out << "\n\n";
  Table table(
      {"PARTITION", "LEADER", "TERM", "REPLICAS", "CAUGHT-UP", "MOVING-TO", "LOG-START", "HIGH-WATERMARK"});
  for (const auto& p : t->partitions()) {
    table.AddRow({absl::StrCat(p.partition()), p.leader_id() == 0 ? "-" : absl::StrCat(p.leader_id()),
                  absl::StrCat(p.leader_term()), JoinIds(p.replicas()), JoinIds(p.caught_up_replicas()),
                  p.target_replicas().empty() ? "-" : JoinIds(p.target_replicas()),
                  absl::StrCat(p.log_start_offset()), absl::StrCat(p.high_watermark())});
  }
  table.Print(ctx.io.out);
  return kExitOk;
}

int TopicAlter(Context& ctx) {
  const std::string& name = ctx.positionals[0];
  v1::TopicConfig config;
  std::vector<std::string> set;
  struct Field {
    const char* flag;
    const char* field;
    void (v1::TopicConfig::*setter)(uint64_t);
  };
  for (const Field& f :
       {Field{"retention-ms", "retention_ms", &v1::TopicConfig::set_retention_ms},
        Field{"retention-bytes", "retention_bytes", &v1::TopicConfig::set_retention_bytes},
        Field{"tombstone-retention-ms", "tombstone_retention_ms", &v1::TopicConfig::set_tombstone_retention_ms},
        Field{"min-compaction-lag-ms", "min_compaction_lag_ms", &v1::TopicConfig::set_min_compaction_lag_ms}}) {
    if (!ctx.args.Has(f.flag)) continue;
    auto value = NonNegative(ctx.args, f.flag, 0);
    if (!value.ok()) return UsageError(ctx, std::string(value.status().message()));
    (config.*f.setter)(*value);
    set.push_back(f.field);
  }
  if (set.empty()) {
    return UsageError(ctx,
                      "give at least one of --retention-ms, --retention-bytes, --tombstone-retention-ms, "
                      "--min-compaction-lag-ms");
  }
  client::Admin admin(ctx.connection);
  auto topic = admin.AlterTopic(name, set, config);
  if (!topic.ok()) return Fail(ctx, topic.status());
  if (ctx.json) {
    JsonWriter w;
    WriteTopic(w, *topic);
    ctx.io.out << w.str() << '\n';
  } else {
    const auto& c = topic->config();
    ctx.io.out << "altered topic '" << name << "': retention-ms " << c.retention_ms() << ", retention-bytes "
               << c.retention_bytes() << ", tombstone-retention-ms " << c.tombstone_retention_ms()
               << ", min-compaction-lag-ms " << c.min_compaction_lag_ms() << '\n';
  }
  return kExitOk;
}

int TopicDelete(Context& ctx) {
  client::Admin admin(ctx.connection);
  absl::Status s = admin.DeleteTopic(ctx.positionals[0]);
  if (!s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    ctx.io.out << JsonWriter().BeginObject().Key("deleted").String(ctx.positionals[0]).EndObject().str() << '\n';
  } else {
    ctx.io.out << "deleted topic '" << ctx.positionals[0] << "'\n";
  }
  return kExitOk;
}

// ---- produce ----

int Produce(Context& ctx) {
  const std::string& topic = ctx.positionals[0];
  std::optional<uint32_t> partition;
  if (ctx.args.Has("partition")) {
    auto p = NonNegative(ctx.args, "partition", 0);
    if (!p.ok()) return UsageError(ctx, std::string(p.status().message()));
    partition = static_cast<uint32_t>(*p);
  }
  if (ctx.args.Has("value") && ctx.args.Has("key-separator")) {
    return UsageError(ctx, "--value and --key-separator do not go together (use --key with --value)");
  }
  auto tombstone = ctx.args.GetBool("tombstone");
  if (!tombstone.ok()) return UsageError(ctx, std::string(tombstone.status().message()));
  if (*tombstone && (!ctx.args.Has("key") || ctx.args.Get("key").empty() || ctx.args.Has("value") ||
                     ctx.args.Has("key-separator"))) {
    return UsageError(ctx, "--tombstone deletes the key given by --key: give --key, and no --value");
  }
  const std::string separator = ctx.args.Get("key-separator");
  if (ctx.args.Has("key-separator") && separator.empty()) return UsageError(ctx, "--key-separator is empty");
  auto headers = ParseHeaders(ctx.args.GetAll("header"));
  if (!headers.ok()) return UsageError(ctx, std::string(headers.status().message()));
  auto compression = client::ParseCompression(ctx.args.Get("compression", "none"));
  if (!compression.ok()) return UsageError(ctx, std::string(compression.status().message()));

  // Fail early (exit 3) for an unknown topic, before reading stdin.
  auto meta = ctx.connection->Topic(topic, client::Clock::now() + ctx.timeout);
  if (!meta.ok()) return Fail(ctx, meta.status());
  if (partition && *partition >= meta->partition_count()) {
    return Fail(ctx, absl::NotFoundError(absl::StrCat("topic '", topic, "' has ", meta->partition_count(),
                                                      " partitions; partition ", *partition, " does not exist")));
  }

  client::ProducerOptions options;
  options.delivery_timeout = ctx.timeout;
  options.compression = *compression;
  auto producer = client::Producer::Create(ctx.connection, options);
  if (!producer.ok()) return Fail(ctx, producer.status());

  struct Outcome {
    absl::Mutex mu;
    std::vector<client::RecordMetadata> acked;  // in input order
    absl::Status first_error;
    size_t failed = 0;
  } outcome;
  size_t sent = 0;
  auto send = [&](std::string key, std::string value) {
    v1::Record r;
    r.set_key(std::move(key));
    r.set_value(std::move(value));
    r.set_tombstone(*tombstone);
    for (const auto& [name, text] : *headers) {
      v1::Header* h = r.add_headers();
      h->set_key(name);
      h->set_value(text);
    }
    const size_t index = sent++;
    {
      absl::MutexLock lock(&outcome.mu);
      outcome.acked.emplace_back();
    }
    (*producer)->Send(
        topic, std::move(r),
        [&outcome, index](absl::StatusOr<client::RecordMetadata> result) {
          absl::MutexLock lock(&outcome.mu);
          if (result.ok()) {
            outcome.acked[index] = *result;
          } else {
            ++outcome.failed;
            if (outcome.first_error.ok()) outcome.first_error = result.status();
          }
        },
        partition);
  };
  if (ctx.args.Has("value") || *tombstone) {
    send(ctx.args.Get("key"), ctx.args.Get("value"));
  } else {
    std::string line;
    const std::string fixed_key = ctx.args.Get("key");
    while (std::getline(ctx.io.in, line)) {
      if (!separator.empty()) {
        const size_t at = line.find(separator);
        if (at == std::string::npos) {
          send(fixed_key, line);
        } else {
          send(line.substr(0, at), line.substr(at + separator.size()));
        }
      } else {
        send(fixed_key, line);
      }
    }
  }
  (*producer)->Close();

  absl::MutexLock lock(&outcome.mu);
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("topic").String(topic).Key("records").Uint(sent - outcome.failed);
    w.Key("failed").Uint(outcome.failed).Key("offsets").BeginArray();
    if (outcome.failed == 0) {
      for (const auto& m : outcome.acked)
        w.BeginObject().Key("partition").Uint(m.partition).Key("offset").Uint(m.offset).EndObject();
    }
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
  } else if (outcome.failed == 0) {
    ctx.io.out << "produced " << sent << " record" << (sent == 1 ? "" : "s") << " to '" << topic << "'";
    if (sent == 1)
      ctx.io.out << " (partition " << outcome.acked[0].partition << ", offset " << outcome.acked[0].offset << ")";
    ctx.io.out << '\n';
  }
  if (outcome.failed > 0) {
    ctx.io.err << "brook: " << outcome.failed << " of " << sent << " records failed\n";
    return Fail(ctx, outcome.first_error);
  }
  return kExitOk;
}

// ---- consume ----

int Consume(Context& ctx) {
  if (ctx.args.Has("group")) return ConsumeInGroup(ctx);
  const std::string& topic = ctx.positionals[0];
  auto follow = ctx.args.GetBool("follow");
  auto from_beginning = ctx.args.GetBool("from-beginning");
  auto max_records = NonNegative(ctx.args, "max-records", 0);
  if (!follow.ok() || !from_beginning.ok() || !max_records.ok()) {
    return UsageError(ctx, "bad --follow, --from-beginning or --max-records value");
  }
  const int starts = int{*from_beginning} + int{ctx.args.Has("offset")} + int{ctx.args.Has("timestamp")};
  if (starts > 1) return UsageError(ctx, "give at most one of --from-beginning, --offset, --timestamp");

  auto consumer = client::Consumer::Create(ctx.connection);
  if (!consumer.ok()) return Fail(ctx, consumer.status());
  std::vector<uint32_t> partitions;
  if (ctx.args.Has("partition")) {
    auto p = NonNegative(ctx.args, "partition", 0);
    if (!p.ok()) return UsageError(ctx, std::string(p.status().message()));
    partitions.push_back(static_cast<uint32_t>(*p));
  }
  client::Consumer& c = **consumer;
  if (absl::Status s = c.Assign(topic, partitions); !s.ok()) return Fail(ctx, s);

  absl::Status seek;
  if (ctx.args.Has("offset")) {
    auto offset = NonNegative(ctx.args, "offset", 0);
    if (!offset.ok()) return UsageError(ctx, std::string(offset.status().message()));
    for (uint32_t p : c.assignment()) seek.Update(c.Seek(p, *offset));
  } else if (ctx.args.Has("timestamp")) {
    auto ts = NonNegative(ctx.args, "timestamp", 0);
    if (!ts.ok()) return UsageError(ctx, std::string(ts.status().message()));
    seek = c.SeekToTimestamp(static_cast<int64_t>(*ts));
  } else if (*from_beginning || !*follow) {
    seek = c.Seek(client::OffsetSpec::kEarliest);
  }  // else: --follow alone starts at the end (Assign's default)
  if (!seek.ok()) return Fail(ctx, seek);

  // Without --follow, read up to the high watermarks as they are now, then stop.
  std::map<uint32_t, uint64_t> end;
  if (!*follow) {
    for (uint32_t p : c.assignment()) {
      auto r = c.ListOffsets(p, client::OffsetSpec::kLatest);
      if (!r.ok()) return Fail(ctx, r.status());
      end[p] = r->offset();
    }
  }
  auto done = [&] {
    if (*follow) return false;
    for (const auto& [p, e] : end) {
      if (c.Position(p).value_or(e) < e) return false;
    }
    return true;
  };

  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, OnInterrupt);
  if (!ctx.json) ctx.io.out << "PARTITION\tOFFSET\tKEY\tVALUE\tHEADERS\n";
  uint64_t printed = 0;
  int exit_code = kExitOk;
  auto idle_since = client::Clock::now();
  while (!g_interrupted.load() && !done() && (*max_records == 0 || printed < *max_records)) {
    auto result = c.Poll(std::chrono::milliseconds(500));
    if (!result.ok()) {
      exit_code = Fail(ctx, result.status());
      break;
    }
    for (const auto& g : result->gaps) {
      ctx.io.err << "brook: partition " << g.partition << ": offsets [" << g.gap.start_offset() << ", "
                 << g.gap.end_offset() << ") are gone (" << v1::Gap::Reason_Name(g.gap.reason())
                 << "); continuing at " << g.gap.end_offset() << '\n';
    }
    for (const auto& r : result->records) {
      if (*max_records != 0 && printed >= *max_records) break;
      if (!*follow && r.record.offset() >= end[r.partition]) continue;  // past the snapshot
      PrintRecord(ctx, r);
      ++printed;
    }
    ctx.io.out.flush();
    if (!result->empty()) {
      idle_since = client::Clock::now();
    } else if (!*follow && client::Clock::now() - idle_since > ctx.timeout) {
      exit_code =
          Fail(ctx, absl::DeadlineExceededError("no progress towards the end of the topic within --timeout-ms"));
      break;
    }
  }
  std::signal(SIGINT, previous);
  return exit_code;
}

// ---- group ----

int GroupOffsets(Context& ctx) {
  const std::string& group = ctx.positionals[0];
  const std::string& topic = ctx.positionals[1];
  auto consumer = client::Consumer::Create(ctx.connection);
  if (!consumer.ok()) return Fail(ctx, consumer.status());
  if (absl::Status s = (*consumer)->Assign(topic); !s.ok()) return Fail(ctx, s);
  auto offsets = (*consumer)->FetchOffsets(group);
  if (!offsets.ok()) return Fail(ctx, offsets.status());
  uint64_t total_lag = 0;
  for (const auto& o : *offsets) total_lag += o.committed() ? o.lag() : o.high_watermark();
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject().Key("group").String(group).Key("topic").String(topic).Key("total_lag").Uint(total_lag);
    w.Key("partitions").BeginArray();
    for (const auto& o : *offsets) {
      w.BeginObject().Key("partition").Uint(o.partition()).Key("committed").Bool(o.committed());
      w.Key("offset").Uint(o.offset()).Key("high_watermark").Uint(o.high_watermark()).Key("lag").Uint(o.lag());
      w.Key("metadata").String(o.metadata()).Key("commit_time_ms").Int(o.commit_time_ms()).EndObject();
    }
    w.EndArray().EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  Table table({"PARTITION", "COMMITTED-OFFSET", "HIGH-WATERMARK", "LAG"});
  for (const auto& o : *offsets) {
    table.AddRow({absl::StrCat(o.partition()), o.committed() ? absl::StrCat(o.offset()) : "-",
                  absl::StrCat(o.high_watermark()), o.committed() ? absl::StrCat(o.lag()) : "-"});
  }
  ctx.io.out << "group " << group << "  topic " << topic << "  total lag " << total_lag << "\n\n";
  table.Print(ctx.io.out);
  return kExitOk;
}

int GroupCommit(Context& ctx) {
  const std::string& group = ctx.positionals[0];
  const std::string& topic = ctx.positionals[1];
  if (!ctx.args.Has("partition") || !ctx.args.Has("offset"))
    return UsageError(ctx, "give --partition and --offset");
  auto p = NonNegative(ctx.args, "partition", 0);
  auto offset = NonNegative(ctx.args, "offset", 0);
  if (!p.ok() || !offset.ok()) return UsageError(ctx, "--partition and --offset want non-negative integers");
  auto consumer = client::Consumer::Create(ctx.connection);
  if (!consumer.ok()) return Fail(ctx, consumer.status());
  if (absl::Status s = (*consumer)->Assign(topic, {static_cast<uint32_t>(*p)}); !s.ok()) return Fail(ctx, s);
  if (absl::Status s = (*consumer)->CommitOffsets(group, {{static_cast<uint32_t>(*p), *offset}}); !s.ok()) {
    return Fail(ctx, s);
  }
  if (ctx.json) {
    ctx.io.out << JsonWriter().BeginObject().Key("committed").Bool(true).EndObject().str() << '\n';
  } else {
    ctx.io.out << "committed offset " << *offset << " for group '" << group << "' on " << topic << "/" << *p
               << '\n';
  }
  return kExitOk;
}

// ---- cluster ----

// caught_up_replicas is exact only on a partition's leader: ask each leader about the partitions it leads.
// Best effort: a leader that does not answer leaves the first answer's view in place.
void RefineTopicFromLeaders(Context& ctx, const std::map<uint64_t, std::string>& address, v1::Topic& t) {
  std::set<uint64_t> leaders;
  for (const auto& p : t.partitions()) {
    if (p.leader_id() != 0) leaders.insert(p.leader_id());
  }
  for (uint64_t leader : leaders) {
    auto it = address.find(leader);
    if (it == address.end() || it->second.empty()) continue;
    grpc::ClientContext context;
    client::SetDeadline(&context, client::Clock::now() + std::min(ctx.timeout, std::chrono::milliseconds(3000)));
    v1::DescribeTopicRequest request;
    request.set_name(t.name());
    v1::DescribeTopicResponse response;
    if (!ctx.connection->Stubs(it->second)->admin->DescribeTopic(&context, request, &response).ok()) continue;
    for (const auto& fresh : response.topic().partitions()) {
      if (fresh.leader_id() != leader || fresh.partition() >= static_cast<uint32_t>(t.partitions_size())) continue;
      *t.mutable_partitions(static_cast<int>(fresh.partition())) = fresh;
    }
  }
}

std::map<uint64_t, std::string> ClientAddresses(const v1::DescribeClusterResponse& cluster) {
  std::map<uint64_t, std::string> address;
  for (const auto& n : cluster.nodes()) address[n.id()] = n.client_address();
  return address;
}

void RefineFromLeaders(Context& ctx, const v1::DescribeClusterResponse& cluster, v1::GetMetadataResponse& meta) {
  const auto address = ClientAddresses(cluster);
  for (v1::Topic& t : *meta.mutable_topics()) RefineTopicFromLeaders(ctx, address, t);
}

int ClusterBalancer(Context& ctx) {
  const std::string& action = ctx.positionals[0];
  if (action != "pause" && action != "resume") {
    return UsageError(ctx, absl::StrCat("ACTION is '", action, "'; use pause or resume"));
  }
  client::Admin admin(ctx.connection);
  auto r = admin.SetLeaderBalancer(action == "pause");
  if (!r.ok()) return Fail(ctx, r.status());
  if (ctx.json) {
    ctx.io.out << JsonWriter().BeginObject().Key("leader_balancer_paused").Bool(r->paused()).EndObject().str()
               << '\n';
  } else {
    ctx.io.out << "leader balancer " << (r->paused() ? "paused" : "resumed") << " on every node\n";
  }
  return kExitOk;
}

int ClusterStatus(Context& ctx) {
  client::Admin admin(ctx.connection);
  auto cluster = admin.DescribeCluster();
  if (!cluster.ok()) return Fail(ctx, cluster.status());
  auto meta = admin.GetMetadata();
  if (!meta.ok()) return Fail(ctx, meta.status());
  RefineFromLeaders(ctx, *cluster, *meta);

  std::map<uint64_t, int> leaders;  // node -> partitions it leads
  struct Lagging {
    std::string topic;
    const v1::PartitionInfo* p;
  };
  std::vector<Lagging> under;
  std::vector<Lagging> leaderless;
  size_t partitions = 0;
  size_t off_preferred = 0;  // partitions led by another replica than their preferred (first) one
  for (const auto& t : meta->topics()) {
    for (const auto& p : t.partitions()) {
      ++partitions;
      if (p.leader_id() != 0) ++leaders[p.leader_id()];
      if (p.leader_id() != 0 && p.replicas_size() > 0 && p.leader_id() != p.replicas(0)) ++off_preferred;
      if (p.leader_id() == 0) leaderless.push_back({t.name(), &p});
      std::set<uint64_t> caught(p.caught_up_replicas().begin(), p.caught_up_replicas().end());
      for (uint64_t r : p.replicas()) {
        if (!caught.count(r)) {
          under.push_back({t.name(), &p});
          break;
        }
      }
    }
  }
  if (ctx.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("cluster_id")
        .String(cluster->cluster_id())
        .Key("controller")
        .Uint(cluster->controller_id());
    w.Key("metadata_term").Uint(cluster->metadata_term()).Key("answered_by").Uint(cluster->answered_by());
    w.Key("topics").Uint(static_cast<uint64_t>(meta->topics_size())).Key("partitions").Uint(partitions);
    w.Key("leader_balancer_paused").Bool(cluster->leader_balancer_paused());
    w.Key("leaders_off_preferred").Uint(off_preferred);
    w.Key("nodes").BeginArray();
    for (const auto& n : cluster->nodes()) {
      w.BeginObject().Key("id").Uint(n.id()).Key("client_address").String(n.client_address());
      w.Key("metrics_address").String(n.metrics_address()).Key("reachable").Bool(n.reachable());
      w.Key("state").String(v1::NodeState_Name(n.state()));
      w.Key("controller").Bool(n.id() == cluster->controller_id()).Key("leaders").Int(leaders[n.id()]).EndObject();
    }
    w.EndArray();
    auto list = [&](const char* key, const std::vector<Lagging>& items) {
      w.Key(key).BeginArray();
      for (const auto& u : items) {
        w.BeginObject().Key("topic").String(u.topic).Key("partition").Uint(u.p->partition());
        w.Key("leader").Uint(u.p->leader_id()).Key("replicas").BeginArray();
        for (uint64_t r : u.p->replicas()) w.Uint(r);
        w.EndArray().Key("caught_up_replicas").BeginArray();
        for (uint64_t r : u.p->caught_up_replicas()) w.Uint(r);
        w.EndArray().EndObject();
      }
      w.EndArray();
    };
    list("under_replicated", under);
    list("leaderless", leaderless);
    w.EndObject();
    ctx.io.out << w.str() << '\n';
    return kExitOk;
  }
  ctx.io.out << "cluster " << cluster->cluster_id() << "  controller "
             << (cluster->controller_id() == 0 ? std::string("none")
                                               : absl::StrCat("node ", cluster->controller_id()))
             << "  metadata term " << cluster->metadata_term() << "  topics " << meta->topics_size()
             << "  partitions " << partitions << "\n"
             << "leader balancer " << (cluster->leader_balancer_paused() ? "PAUSED" : "running") << "  "
             << off_preferred << " partitions led off their preferred replica\n\n";
  Table nodes({"NODE", "ADDRESS", "STATE", "REACHABLE", "CONTROLLER", "LEADERS"});
  for (const auto& n : cluster->nodes()) {
    const char* state = n.state() == v1::NODE_DRAINING  ? "draining"
                        : n.state() == v1::NODE_REMOVED ? "removed"
                        : n.state() == v1::NODE_JOINING ? "joining"
                                                        : "active";
    nodes.AddRow({absl::StrCat(n.id()), n.client_address(), state, n.reachable() ? "yes" : "NO",
                  n.id() == cluster->controller_id() ? "*" : "", absl::StrCat(leaders[n.id()])});
  }
  nodes.Print(ctx.io.out);
  ctx.io.out << '\n';
  if (under.empty()) {
    ctx.io.out << "under-replicated partitions: none\n";
  } else {
    ctx.io.out << "under-replicated partitions: " << under.size() << "\n";
    Table t({"TOPIC", "PARTITION", "LEADER", "REPLICAS", "CAUGHT-UP"});
    for (const auto& u : under) {
      t.AddRow({u.topic, absl::StrCat(u.p->partition()), absl::StrCat(u.p->leader_id()), JoinIds(u.p->replicas()),
                JoinIds(u.p->caught_up_replicas())});
    }
    t.Print(ctx.io.out);
  }
  if (!leaderless.empty()) {
    ctx.io.out << "partitions without a leader: " << leaderless.size() << "\n";
  }
  return kExitOk;
}

FlagSpec Value(std::string name, std::string help, std::string def = "") {
  return FlagSpec{std::move(name), true, std::move(help), std::move(def)};
}
FlagSpec Switch(std::string name, std::string help) {
  return FlagSpec{std::move(name), false, std::move(help), ""};
}
FlagSpec Repeatable(std::string name, std::string help) {
  return FlagSpec{std::move(name), true, std::move(help), "", /*repeatable=*/true};
}

}  // namespace

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      Value("bootstrap", "comma-separated host:port of cluster nodes (env BROOK_BOOTSTRAP)", kDefaultBootstrap),
      Value("output", "table (for people) or json (for scripts)", "table"),
      Value("timeout-ms", "overall deadline of each request, retries included", "30000"),
      Value("tls-ca", "PEM of the CA of the nodes' certificates: speak TLS (env BROOK_TLS_CA)"),
      Value("tls-cert", "PEM certificate to present to the nodes (env BROOK_TLS_CERT)"),
      Value("tls-key", "PEM private key of --tls-cert (env BROOK_TLS_KEY)"),
      Value("token", "bearer token to authenticate with (env BROOK_TOKEN; use with TLS)"),
  };
  return *flags;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {{"topic", "create"},
       "NAME",
       1,
       1,
       "create a topic and wait until its partitions have leaders",
       {Value("partitions", "number of partitions", "3"),
        Value("replication-factor", "replicas per partition (0: the cluster default, 3 or the node count)", "0"),
        Value("retention-ms", "delete records older than this (0: keep forever)", "0"),
        Value("retention-bytes", "keep about this many bytes per partition (0: no limit)", "0"),
        Value("cleanup-policy",
              "delete (retention only), compact (keep the latest record of each key) or compact,delete (both)",
              "delete"),
        Value("tombstone-retention-ms", "compacted topics: how long a tombstone stays readable (0: 24 h)", "0"),
        Value("min-compaction-lag-ms", "compacted topics: records younger than this are never compacted", "0"),
        Switch("no-wait", "return once the topic exists, without waiting for partition leaders")},
       TopicCreate},
      {{"topic", "list"}, "", 0, 0, "list topics", {}, TopicList},
      {{"topic", "describe"},
       "NAME",
       1,
       1,
       "show a topic's config and its partitions: leaders, replicas, offsets",
       {},
       TopicDescribe},
      {{"topic", "alter"},
       "NAME",
       1,
       1,
       "change a topic's retention or compaction settings while it serves (only the flags given change)",
       {Value("retention-ms", "delete records older than this (0: keep forever)"),
        Value("retention-bytes", "keep about this many bytes per partition (0: no limit)"),
        Value("tombstone-retention-ms", "compacted topics: how long a tombstone stays readable (0: 24 h)"),
        Value("min-compaction-lag-ms", "compacted topics: records younger than this are never compacted")},
       TopicAlter},
      {{"topic", "delete"}, "NAME", 1, 1, "delete a topic and its data", {}, TopicDelete},
      {{"topic", "move-replicas"},
       "TOPIC PARTITION",
       2,
       2,
       "move a partition's replicas to other nodes, online: new ones copy the log as learners first",
       {Value("to", "the replicas afterwards, comma-separated node ids; the first is the preferred leader"),
        Switch("dry-run", "check and print the plan; change nothing")},
       TopicMoveReplicas},
      {{"topic", "cancel-move"},
       "TOPIC PARTITION",
       2,
       2,
       "cancel a running replica move: the partition goes back to the replicas it started from",
       {},
       TopicCancelMove},
      {{"topic", "add-partitions"},
       "TOPIC",
       1,
       1,
       "grow a topic to more partitions, online (keyed records then spread over more partitions)",
       {Value("count", "the topic's partition count afterwards")},
       TopicAddPartitions},
      {{"produce"},
       "TOPIC",
       1,
       1,
       "write records: one per line of stdin, one given by --value, or a tombstone for --key (--tombstone)",
       {Value("value", "produce this one record instead of reading stdin"),
        Value("key", "key of every record (partitioned by its FNV-1a hash)"),
        Value("key-separator", "split each line at the first SEP into key and value"),
        Value("partition", "write to this partition instead of choosing by key"),
        Repeatable("header", "add the header K=V to every record (split at the first '=')"),
        Value("compression", "compress each batch: none, lz4 or zstd", "none"),
        Switch("tombstone", "write one tombstone for --key: on a compacted topic it deletes the key")},
       Produce},
      {{"consume"},
       "TOPIC",
       1,
       1,
       "read records and print partition, offset, key, value and headers; without --follow, stops at the current "
       "end",
       {Switch("from-beginning", "start at the earliest offset (the default without --follow)"),
        Value("offset", "start at this offset (in every selected partition)"),
        Value("timestamp", "start at the first record appended at or after this time (ms since the epoch)"),
        Switch("follow", "keep waiting for new records (starts at the end unless told otherwise); Ctrl-C stops"),
        Value("partition", "read only this partition (default: all)"),
        Value("max-records", "stop after this many records (0: no limit)", "0"),
        Value(
            "group",
            "read as a member of this consumer group: the group's coordinator assigns the partitions, reading "
            "resumes at the group's committed offsets (new partitions: earliest, or latest with --follow alone), "
            "positions are committed every 5 s and on exit; not with --partition, --offset or --timestamp"),
        Value("instance-id", "with --group: a static member id kept across restarts")},
       Consume},
      {{"group", "list"}, "", 0, 0, "list consumer groups", {}, GroupList},
      {{"whoami"}, "", 0, 0, "show the principal the cluster authenticates this client as", {}, WhoAmI},
      {{"acl", "add"},
       "PRINCIPAL ACTION RESOURCE",
       3,
       3,
       "allow PRINCIPAL (or *) ACTION (produce, consume, describe, admin) on RESOURCE (topic:NAME, group:NAME, "
       "NAME* for a prefix, or cluster)",
       {},
       AclAdd},
      {{"acl", "remove"}, "PRINCIPAL ACTION RESOURCE", 3, 3, "remove exactly this ACL rule", {}, AclRemove},
      {{"acl", "list"},
       "",
       0,
       0,
       "list the ACL rules",
       {Value("principal", "only this principal's rules")},
       AclList},
      {{"quota", "set"},
       "PRINCIPAL",
       1,
       1,
       "set PRINCIPAL's (or *'s: everyone without one) byte rates on each node; both 0 clears the quota",
       {Value("produce-bytes-per-sec", "produce bytes a second per node (0: no limit)", "0"),
        Value("fetch-bytes-per-sec", "fetch bytes a second per node (0: no limit)", "0")},
       QuotaSet},
      {{"quota", "list"}, "", 0, 0, "list the quotas", {}, QuotaList},
      {{"token", "new"},
       "NAME",
       1,
       1,
       "make a random token for NAME and the line that holds its hash in brookd --auth_tokens_file (no cluster "
       "needed)",
       {},
       TokenNew},
      {{"group", "describe"},
       "GROUP",
       1,
       1,
       "show a group's members, what each reads, and every partition's committed offset and lag",
       {},
       GroupDescribe},
      {{"group", "delete"},
       "GROUP",
       1,
       1,
       "delete a consumer group and its committed offsets (it must have no members)",
       {},
       GroupDelete},
      {{"group", "reset-offsets"},
       "GROUP TOPIC",
       2,
       2,
       "move a group's committed offsets in a topic (the group must have no members)",
       {Switch("to-earliest", "to each partition's log start"), Switch("to-latest", "to each partition's end"),
        Value("to-timestamp", "to the first record appended at or after this time (ms since the epoch)"),
        Value("shift-by", "by this many records from the committed offset (negative rewinds)"),
        Value("to-offset", "to this offset (within each partition's bounds)"),
        Value("partition", "only this partition (default: all)"),
        Switch("dry-run", "print the new offsets without storing them")},
       GroupResetOffsets},
      {{"group", "offsets"},
       "GROUP TOPIC",
       2,
       2,
       "show the offsets a group committed without the group protocol (each partition's own store) and lag",
       {},
       GroupOffsets},
      {{"group", "commit"},
       "GROUP TOPIC",
       2,
       2,
       "store a group's offset for one partition in the partition's own store (consumers that assign partitions "
       "themselves; group members commit through the coordinator)",
       {Value("partition", "the partition"), Value("offset", "the next offset the group will read")},
       GroupCommit},
      {{"cluster", "status"},
       "",
       0,
       0,
       "nodes, controller, partition leaders per node, under-replicated partitions",
       {},
       ClusterStatus},
      {{"cluster", "balancer"},
       "pause|resume",
       1,
       1,
       "pause or resume the leader balancer on every node (it moves leaders back to their preferred replicas)",
       {},
       ClusterBalancer},
      {{"cluster", "operations"},
       "",
       0,
       0,
       "running replica moves with the records and bytes copied so far",
       {Switch("wait", "print a progress line every second until no move runs"),
        Value("wait-timeout-ms", "with --wait: give up after this long", "3600000")},
       ClusterOperations},
      {{"cluster", "decommission"},
       "NODE",
       1,
       1,
       "move every replica off a node (up or dead), then take it out of the cluster for good",
       {Switch("dry-run", "check and print the plan; change nothing"),
        Switch("cancel",
               "stop the node's running decommission: its running moves are cancelled, it is active again")},
       ClusterDecommission},
      {{"cluster", "remove"},
       "NODE",
       1,
       1,
       "take a dead node out of the cluster: its replicas are re-created on other nodes from the survivors",
       {Switch("dry-run", "check and print the plan; change nothing")},
       ClusterRemove},
      {{"cluster", "replace"},
       "NODE",
       1,
       1,
       "decommission a node (up or dead), moving every replica it holds to the node --with names",
       {Value("with", "the node that takes every replica (active, holding none of NODE's partitions)"),
        Switch("dry-run", "check and print the plan; change nothing")},
       ClusterReplace},
      {{"bench", "produce"},
       "",
       0,
       0,
       "measure produce throughput and latency (creates the topic if missing)",
       {Value("topic", "topic to write", "brook-bench"), Value("records", "records to send", "100000"),
        Value("record-size", "value bytes per record", "1024"),
        Value("partitions", "partitions when the topic is created", "3"),
        Value("inflight", "produce requests in flight per partition", "5"),
        Value("batch-bytes", "largest batch per request", "524288"), Value("linger-ms", "batch linger", "2"),
        Value("rate", "records/s to offer, paced (0: as fast as the buffer allows)", "0"),
        Value("compression", "compress each batch: none, lz4 or zstd", "none"),
        Value("record-kind", "record values: random (incompressible bytes) or json (JSON-like events)", "random"),
        Value("keys", "give record i the key key-<i mod N>, partitioned by it: updates of N keys (0: no keys)",
              "0")},
       RunBenchProduce},
      {{"bench", "consume"},
       "",
       0,
       0,
       "measure read throughput from the beginning of a topic",
       {Value("topic", "topic to read", "brook-bench"),
        Value("records", "stop after this many records (0: up to the current end)", "0"),
        Value("fetch-records", "records per Fetch (0: server default)", "10000")},
       RunBenchConsume},
      {{"bench", "rpc"},
       "",
       0,
       0,
       "measure one record per Produce over plain gRPC, N in flight, no batching (creates the topic if missing)",
       {Value("topic", "topic to write", "brook-bench-rpc"), Value("partition", "partition to write", "0"),
        Value("record-size", "value bytes per record", "1024"),
        Value("inflight", "Produce calls in flight (1..100000)", "256"),
        Value("seconds", "how long to send", "10"), Value("records", "stop after this many (0: no cap)", "0"),
        Value("rate", "requests/s to offer, open loop; latency counts from when each was due (0: closed loop)",
              "0")},
       RunBenchRpc},
  };
  return *commands;
}

std::string CommandHelp(const CommandSpec& command) {
  std::ostringstream out;
  out << "usage: brook " << absl::StrJoin(command.path, " ") << (command.arguments.empty() ? "" : " ")
      << command.arguments << " [flags]\n\n"
      << command.summary << "\n\nflags:\n";
  auto print = [&](const FlagSpec& f) {
    std::string name = absl::StrCat("  --", f.name, f.takes_value ? "=VALUE" : "");
    out << name << std::string(name.size() < 28 ? 28 - name.size() : 1, ' ') << f.help;
    if (!f.default_value.empty()) out << " (default " << f.default_value << ")";
    if (f.repeatable) out << " (repeatable)";
    out << '\n';
  };
  for (const auto& f : command.flags) print(f);
  for (const auto& f : GlobalFlags()) print(f);
  out << "  --help                    show this help\n";
  return out.str();
}

std::string GroupHelp(const std::vector<std::string>& group) {
  std::ostringstream out;
  out << "usage: brook " << (group.empty() ? "" : absl::StrJoin(group, " ") + " ") << "COMMAND [flags]\n\n"
      << "commands:\n";
  for (const auto& c : Commands()) {
    if (!std::equal(group.begin(), group.end(), c.path.begin(),
                    c.path.begin() + std::min(group.size(), c.path.size())))
      continue;
    std::string name = absl::StrCat("  ", absl::StrJoin(c.path, " "), c.arguments.empty() ? "" : " ", c.arguments);
    out << name << std::string(name.size() < 32 ? 32 - name.size() : 1, ' ') << c.summary << '\n';
  }
  out << "\nglobal flags:\n";
  for (const auto& f : GlobalFlags()) {
    out << "  --" << f.name << "=VALUE  " << f.help << " (default " << f.default_value << ")\n";
  }
  out << "\nexit codes: 0 ok, 1 error from or reaching the cluster, 2 usage error, 3 topic or partition not "
         "found\n"
      << "'brook COMMAND --help' describes a command's flags.\n";
  return out.str();
}

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& args) {
  std::vector<std::string> value_flags;
  for (const auto& f : GlobalFlags()) value_flags.push_back(f.name);
  for (const auto& c : Commands()) {
    for (const auto& f : c.flags) {
      if (f.takes_value) value_flags.push_back(f.name);
    }
  }
  auto parsed = Tokenize(args, value_flags);
  if (!parsed.ok()) return parsed.status();
  Invocation inv;
  inv.args = std::move(*parsed);
  const auto& words = inv.args.words;
  for (const auto& c : Commands()) {
    if (words.size() >= c.path.size() && std::equal(c.path.begin(), c.path.end(), words.begin())) {
      inv.command = &c;
      break;
    }
  }
  if (inv.command == nullptr) {
    // A known group ("topic") or nothing: help when asked for, else a usage error.
    std::vector<std::string> group;
    if (!words.empty()) {
      for (const auto& c : Commands()) {
        if (c.path.size() > 1 && c.path[0] == words[0]) group = {words[0]};
      }
    }
    if (inv.args.help && words.size() <= group.size()) {
      inv.group = group;
      return inv;
    }
    if (words.empty()) return absl::InvalidArgumentError("no command given");
    if (!group.empty()) {
      return absl::InvalidArgumentError(words.size() > 1
                                            ? absl::StrCat("unknown command '", words[0], " ", words[1], "'")
                                            : absl::StrCat("'", words[0], "' needs a subcommand"));
    }
    return absl::InvalidArgumentError(absl::StrCat("unknown command '", words[0], "'"));
  }
  if (inv.args.help) return inv;
  std::vector<FlagSpec> allowed = inv.command->flags;
  allowed.insert(allowed.end(), GlobalFlags().begin(), GlobalFlags().end());
  if (absl::Status s = CheckFlags(inv.args, allowed); !s.ok()) return s;
  inv.positionals.assign(words.begin() + static_cast<long>(inv.command->path.size()), words.end());
  const std::string name = absl::StrJoin(inv.command->path, " ");
  if (inv.positionals.size() < inv.command->min_positionals) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' needs ", inv.command->arguments));
  }
  if (inv.positionals.size() > inv.command->max_positionals) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", inv.positionals[inv.command->max_positionals], "' for '", name, "'"));
  }
  const std::string output = inv.args.Get("output", "table");
  if (output != "table" && output != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--output must be table or json, got '", output, "'"));
  }
  if (auto t = inv.args.GetInt("timeout-ms", 30000); !t.ok() || *t <= 0) {
    return absl::InvalidArgumentError("--timeout-ms wants a positive integer");
  }
  return inv;
}

int Fail(Context& ctx, const absl::Status& status) {
  const client::ErrorInfo e = client::DecodeError(status);
  ctx.io.err << "brook: error: " << client::Describe(e) << '\n';
  return status.code() == absl::StatusCode::kNotFound ? kExitNotFound : kExitError;
}

int UsageError(Context& ctx, const std::string& message) {
  ctx.io.err << "brook: usage error: " << message << "\n";
  return kExitUsage;
}

int RunCli(const std::vector<std::string>& args, Io io) {
  auto inv = ParseCommandLine(args);
  if (!inv.ok()) {
    io.err << "brook: usage error: " << inv.status().message() << "\nRun 'brook --help' for usage.\n";
    return kExitUsage;
  }
  if (inv->args.help) {
    io.out << (inv->command != nullptr ? CommandHelp(*inv->command) : GroupHelp(inv->group));
    return kExitOk;
  }
  Context ctx{inv->args, inv->positionals, inv->args.Get("output", "table") == "json", "", {}, io, nullptr};
  const char* env = std::getenv("BROOK_BOOTSTRAP");
  ctx.bootstrap = inv->args.Get("bootstrap", env != nullptr && *env != '\0' ? env : kDefaultBootstrap);
  ctx.timeout = std::chrono::milliseconds(*inv->args.GetInt("timeout-ms", 30000));
  client::ClientOptions options;
  options.bootstrap = client::ParseBootstrap(ctx.bootstrap);
  options.call_timeout = ctx.timeout;
  options.request_timeout = std::min(options.request_timeout, ctx.timeout);
  auto flag_or_env = [&](const char* flag, const char* variable) {
    const char* v = std::getenv(variable);
    return inv->args.Get(flag, v != nullptr ? v : "");
  };
  options.tls_ca_file = flag_or_env("tls-ca", "BROOK_TLS_CA");
  options.tls_cert_file = flag_or_env("tls-cert", "BROOK_TLS_CERT");
  options.tls_key_file = flag_or_env("tls-key", "BROOK_TLS_KEY");
  options.token = flag_or_env("token", "BROOK_TOKEN");
  auto connection = client::Connection::Create(options);
  if (!connection.ok()) return UsageError(ctx, std::string(connection.status().message()));
  ctx.connection = *connection;
  return inv->command->run(ctx);
}

}  // namespace brook::cli
