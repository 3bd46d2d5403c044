#include "client/lib/connection.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/lib/errors.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"

namespace brook::client {
namespace {

// A NotLeader chain longer than this means nodes disagree about the leader: back off and ask again.
constexpr int kMaxLeaderHops = 5;
// Bounds every retry loop even with a far deadline.
constexpr int kMaxAttempts = 200;

// Adds the bearer token to every call of a channel (a call credential would need TLS; tokens on loopback
// plaintext are allowed for tests).
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string* header) : header_(header) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(header_);
  }

 private:
  const std::string* header_;  // the Connection's, which outlives its channels
};

}  // namespace

void SetDeadline(grpc::ClientContext* context, Clock::time_point deadline) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline - Clock::now()));
}

std::vector<std::string> ParseBootstrap(std::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(list.data(), list.size()), ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<Connection>> Connection::Create(ClientOptions options) {
  if (options.bootstrap.empty()) {
    return absl::InvalidArgumentError("no bootstrap address: give at least one node's host:port");
  }
  for (const std::string& a : options.bootstrap) {
    if (a.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bootstrap address '", a, "' is not host:port"));
    }
  }
  auto connection = std::make_shared<Connection>(std::move(options));
  if (auto s = connection->LoadTls(); !s.ok()) return s;
  return connection;
}

absl::Status Connection::LoadTls() {
  if (options_.tls_ca_file.empty()) {
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
      return absl::InvalidArgumentError("a TLS certificate or key without a CA: give the CA file too");
    }
    credentials_ = grpc::InsecureChannelCredentials();
    return absl::OkStatus();
  }
  auto read = [](const std::string& path, std::string* out) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    *out = text.str();
    return in.good() || in.eof() ? !out->empty() : false;
  };
  grpc::SslCredentialsOptions ssl;
  if (!read(options_.tls_ca_file, &ssl.pem_root_certs)) {
    return absl::InvalidArgumentError(absl::StrCat("TLS CA file '", options_.tls_ca_file, "' cannot be read"));
  }
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty()) {
    return absl::InvalidArgumentError("give both the TLS certificate and its key, or neither");
  }
  if (!options_.tls_cert_file.empty() &&
      (!read(options_.tls_cert_file, &ssl.pem_cert_chain) || !read(options_.tls_key_file, &ssl.pem_private_key))) {
    return absl::InvalidArgumentError("the TLS certificate or key file cannot be read");
  }
  credentials_ = grpc::SslCredentials(ssl);
  return absl::OkStatus();
}

Connection::Connection(ClientOptions options)
    : options_(std::move(options)), authorization_(absl::StrCat("Bearer ", options_.token)) {}

NodeStubs* Connection::Stubs(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& slot = stubs_[address];
  if (!slot) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
    args.SetMaxSendMessageSize(options_.max_receive_message_bytes);
    // Reconnect quickly to a restarted node; gRPC's default backoff grows to two minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    slot = std::make_unique<NodeStubs>();
    slot->address = address;
    if (options_.token.empty()) {
      slot->channel = grpc::CreateCustomChannel(address, credentials_, args);
    } else {
      std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
      interceptors.push_back(std::make_unique<TokenInterceptorFactory>(&authorization_));
      slot->channel = grpc::experimental::CreateCustomChannelWithInterceptors(address, credentials_, args,
                                                                              std::move(interceptors));
    }
    slot->log = v1::Log::NewStub(slot->channel);
    slot->admin = v1::Admin::NewStub(slot->channel);
    slot->groups = v1::ConsumerGroups::NewStub(slot->channel);
    slot->access = v1::Access::NewStub(slot->channel);
  }
  return slot.get();
}

std::vector<std::string> Connection::NodeAddresses() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, address] : node_addresses_) {
    if (!address.empty()) out.push_back(address);
  }
  for (const std::string& a : options_.bootstrap) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  // Rotate so that successive calls spread over the nodes and a dead first node is not always tried first.
  if (!out.empty()) std::rotate(out.begin(), out.begin() + (next_node_++ % out.size()), out.end());
  return out;
}

std::string Connection::AddressOfLocked(uint64_t node_id) {
  auto it = node_addresses_.find(node_id);
  return it == node_addresses_.end() ? std::string() : it->second;
}

std::string Connection::LeaderAddress(const std::string& topic, uint32_t partition) {
  absl::MutexLock lock(&mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition >= static_cast<uint32_t>(it->second.partitions_size())) return "";
  const uint64_t leader = it->second.partitions(partition).leader_id();
  return leader == 0 ? std::string() : AddressOfLocked(leader);
}

std::string Connection::ControllerAddress() {
  absl::MutexLock lock(&mu_);
  if (!controller_hint_.empty()) return controller_hint_;
  return controller_id_ == 0 ? std::string() : AddressOfLocked(controller_id_);
}

uint32_t CoordinatorPartition(const std::string& group) {
  uint32_t h = 2166136261u;
  for (unsigned char c : group) {
    h ^= c;
    h *= 16777619u;
  }
  return h % kGroupCoordinatorPartitions;
}

Route Route::Coordinator(const std::string& group) {
  return {Target::kGroupCoordinator, kGroupsTopic, CoordinatorPartition(group)};
}

void Connection::LearnLeader(const v1::NotLeader& hint) {
  absl::MutexLock lock(&mu_);
  if (hint.leader_id() != 0 && !hint.leader_address().empty()) {
    node_addresses_[hint.leader_id()] = hint.leader_address();
  }
  if (hint.topic().empty()) {
    controller_id_ = hint.leader_id();
    controller_hint_ = hint.leader_address();
    return;
  }
  auto it = topics_.find(hint.topic());
  if (it == topics_.end() || hint.partition() >= static_cast<uint32_t>(it->second.partitions_size())) return;
  v1::PartitionInfo* p = it->second.mutable_partitions(static_cast<int>(hint.partition()));
  if (hint.term() < p->leader_term()) return;  // older than what we hold
  p->set_leader_id(hint.leader_id());
  p->set_leader_term(hint.term());
}

void Connection::ForgetLeader(const std::string& topic, uint32_t partition) {
  absl::MutexLock lock(&mu_);
  if (topic.empty()) {
    controller_id_ = 0;
    controller_hint_.clear();
    return;
  }
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition >= static_cast<uint32_t>(it->second.partitions_size())) return;
  it->second.mutable_partitions(static_cast<int>(partition))->set_leader_id(0);
}

absl::StatusOr<v1::GetMetadataResponse> Connection::RefreshMetadata(const std::vector<std::string>& topics,
                                                                    Clock::time_point deadline) {
  v1::GetMetadataRequest request;
  for (const std::string& t : topics) request.add_topics(t);
  absl::Status last = absl::UnavailableError("no node address to ask for metadata");
  for (const std::string& address : NodeAddresses()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    grpc::ClientContext context;
    SetDeadline(&context,
                std::min(deadline, now + std::min(options_.request_timeout, std::chrono::milliseconds(3000))));
    v1::GetMetadataResponse response;
    grpc::Status status = Stubs(address)->admin->GetMetadata(&context, request, &response);
    if (!status.ok()) {
      last = ToAbslStatus(status);
      if (RetryRule(last.code()) == Retry::kNever) return last;  // e.g. NOT_FOUND for an unknown topic
      continue;
    }
    absl::MutexLock lock(&mu_);
    for (const v1::Node& n : response.nodes()) {
      if (!n.client_address().empty()) node_addresses_[n.id()] = n.client_address();
    }
    if (response.controller_id() != 0) {
      controller_id_ = response.controller_id();
      controller_hint_.clear();
    }
    for (const v1::Topic& t : response.topics()) topics_[t.name()] = t;
    return response;
  }
  return last;
}

absl::StatusOr<v1::Topic> Connection::Topic(const std::string& topic, Clock::time_point deadline, bool refresh) {
  if (!refresh) {
    absl::MutexLock lock(&mu_);
    auto it = topics_.find(topic);
    if (it != topics_.end()) return it->second;
  }
  auto response = RefreshMetadata({topic}, deadline);
  if (!response.ok()) return response.status();
  for (const v1::Topic& t : response->topics()) {
    if (t.name() == topic) return t;
  }
  {
    absl::MutexLock lock(&mu_);
    topics_.erase(topic);
  }
  return absl::NotFoundError(absl::StrCat("topic '", topic, "' does not exist"));
}

void Connection::SleepUntil(Clock::time_point t) {
  const auto now = Clock::now();
  if (t > now) std::this_thread::sleep_for(t - now);
}

absl::Status Connection::Call(const Route& route, Clock::time_point deadline, bool idempotent, Attempt attempt) {
  Backoff backoff(options_.backoff);
  std::string hinted;  // a leader named by NotLeader: tried next, at once
  int hops = 0;
  bool refreshed_after_not_found = false;
  absl::Status last = absl::DeadlineExceededError("the call's deadline passed before any attempt");
  const bool partition_call = route.target == Route::Target::kPartitionLeader;

  auto wait = [&](std::chrono::milliseconds floor) {
    SleepUntil(std::min(deadline, Clock::now() + backoff.Next(floor)));
  };

  for (int i = 0; i < kMaxAttempts && Clock::now() < deadline; ++i) {
    std::string address = std::move(hinted);
    hinted.clear();
    if (address.empty()) {
      switch (route.target) {
        case Route::Target::kAnyNode:
          address = NodeAddresses().front();
          break;
        case Route::Target::kController:
          address = ControllerAddress();
          if (address.empty()) address = NodeAddresses().front();  // it answers NotLeader naming the controller
          break;
        case Route::Target::kPartitionLeader: {
          address = LeaderAddress(route.topic, route.partition);
          if (!address.empty()) break;
          auto topic = Topic(route.topic, deadline, /*refresh=*/true);
          if (!topic.ok()) {
            last = topic.status();
            if (RetryRule(last.code()) == Retry::kNever) return last;
            wait(std::chrono::milliseconds(0));
            continue;
          }
          if (route.partition >= static_cast<uint32_t>(topic->partitions_size())) {
            return absl::NotFoundError(absl::StrCat("topic '", route.topic, "' has ", topic->partitions_size(),
                                                    " partitions; partition ", route.partition,
                                                    " does not exist"));
          }
          address = LeaderAddress(route.topic, route.partition);
          if (address.empty()) {  // an election is running
            last = absl::UnavailableError(
                absl::StrCat("partition ", route.topic, "/", route.partition, " has no leader yet"));
            wait(std::chrono::milliseconds(0));
            continue;
          }
          break;
        }
        case Route::Target::kGroupCoordinator:
          address = LeaderAddress(route.topic, route.partition);
          if (address.empty()) {
            (void)Topic(route.topic, deadline, /*refresh=*/true);  // absent until the first group joins
            address = LeaderAddress(route.topic, route.partition);
          }
          if (address.empty()) address = NodeAddresses().front();  // it answers NotLeader naming the leader
          break;
      }
    }

    grpc::ClientContext context;
    SetDeadline(&context, std::min(deadline, Clock::now() + options_.request_timeout));
    const grpc::Status status = attempt(&context, Stubs(address));
    if (status.ok()) return absl::OkStatus();
    last = ToAbslStatus(status);
    const ErrorInfo error = DecodeError(status);

    if (error.not_leader) {
      LearnLeader(*error.not_leader);
      const std::string leader = error.LeaderAddress();
      if (!leader.empty() && leader != address && hops < kMaxLeaderHops) {
        ++hops;
        hinted = leader;  // follow at once
        continue;
      }
      hops = 0;
      ForgetLeader(route.topic, route.partition);
      wait(std::chrono::milliseconds(error.retry_delay_ms.value_or(0)));
      continue;
    }
    if (error.code == absl::StatusCode::kNotFound && partition_call && !refreshed_after_not_found) {
      refreshed_after_not_found = true;  // the cache may name an old incarnation of the topic
      ForgetLeader(route.topic, route.partition);
      continue;
    }
    const Retry rule = RetryRule(error.code);
    if (rule == Retry::kNever || (rule == Retry::kIfIdempotent && !idempotent)) return last;
    if (error.code == absl::StatusCode::kUnavailable) {
      // The node is down or cannot serve: ask the others who leads now.
      if (partition_call || route.target == Route::Target::kGroupCoordinator) {
        ForgetLeader(route.topic, route.partition);
      }
      if (route.target == Route::Target::kController) ForgetLeader("", 0);
    }
    wait(std::chrono::milliseconds(error.retry_delay_ms.value_or(0)));
  }
  if (last.code() == absl::StatusCode::kUnavailable && Clock::now() >= deadline) {
    return absl::DeadlineExceededError(absl::StrCat("gave up when the call's deadline passed; last error: ",
                                                    absl::StatusCodeToString(last.code()), ": ", last.message()));
  }
  return last;
}

}  // namespace brook::client
