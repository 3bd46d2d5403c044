#include "server/transport/transport.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "server/common/limits.h"
#include "server/common/log.h"
#include "server/transport/peer_auth.h"

namespace brook::server {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One peer: a queue and a thread that owns the stream to it.
class Transport::Peer {
 public:
  Peer(uint64_t id, std::string address, const Transport::Options& options, std::atomic<bool>* refused)
      : id_(id), address_(std::move(address)), options_(options), refused_by_any_(refused) {}
  ~Peer() { Stop(); }

  void Start() {
    hello_interval_ = std::max(std::chrono::milliseconds(20), options_.heard_window / 3);
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Enqueue(internal::MessageBatch batch) {
    size_t bytes = batch.ByteSizeLong();
    {
      std::lock_guard lock(mu_);
      if (queued_bytes_ + bytes > kMaxQueuedBytes) {
        stats_.batches_dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      queued_bytes_ += bytes;
      queue_.emplace_back(std::move(batch), bytes);
    }
    cv_.notify_one();
  }

  PeerStats stats_;

 private:
  using Work = std::deque<std::pair<internal::MessageBatch, size_t>>;

  void Run() {
    NameThisThread(absl::StrCat("brook-peer-", id_).c_str());
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    // A peer that holds our bytes without resetting (a silent network) breaks the stream within ~2 s: the
    // keepalive ping goes unanswered, the transport closes, the blocked Write returns false.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    if (options_.tls.enabled()) SetPeerTargetName(args, id_);
    stub_ = internal::NodeTransport::NewStub(grpc::CreateCustomChannel(
        address_,
        options_.tls.enabled() ? MakePeerChannelCredentials(options_.tls) : grpc::InsecureChannelCredentials(),
        args));
    auto backoff = std::chrono::milliseconds(50);
    // A peer hears from us at least every hello_interval_ even when no group has anything to say: the first
    // batch of a stream tells it our addresses, and it counts us reachable only while it hears from us.
    auto next_hello = std::chrono::steady_clock::now();
    while (true) {
      Work work;
      if (!TakeWork(next_hello, work)) break;
      if (work.empty()) continue;
      next_hello = std::chrono::steady_clock::now() + hello_interval_;
      if (writer_ == nullptr) OpenStream();
      const bool ok = WriteAll(work);
      stats_.connected.store(ok, std::memory_order_relaxed);
      if (ok) {
        backoff = std::chrono::milliseconds(50);
        continue;
      }
      CloseBrokenStream();
      if (!BackOff(backoff)) break;
    }
    if (writer_ != nullptr) {
      context_owned_->TryCancel();
      writer_->Finish();
    }
    std::lock_guard lock(mu_);
    context_ = nullptr;
  }

  // Waits for batches (or the hello time) and takes them; false once stopping. `work` stays empty when the wait
  // ended early without anything to send.
  bool TakeWork(std::chrono::steady_clock::time_point next_hello, Work& work) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, std::min(next_hello, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)),
                     [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return false;
      work.swap(queue_);
      queued_bytes_ = 0;
    }
    if (work.empty() && std::chrono::steady_clock::now() >= next_hello) {
      internal::MessageBatch hello;
      hello.set_cluster_id(options_.cluster_id);
      hello.set_from_node(options_.self);
      hello.set_to_node(id_);
      work.emplace_back(std::move(hello), 0);
    }
    return true;
  }

  void OpenStream() {
    // Fail fast while the peer is down: wait_for_ready would hold batches that Raft will resend anyway.
    context_owned_ = std::make_unique<grpc::ClientContext>();
    {
      std::lock_guard lock(mu_);
      context_ = context_owned_.get();
    }
    context_owned_->AddMetadata(kPeerAuthHeader,
                                PeerAuthToken(options_.secret, options_.cluster_id, options_.self, id_, UnixMs()));
    writer_ = stub_->Stream(context_owned_.get(), &ack_);
    first_ = true;
    stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
  }

  // Writes every batch; the first of a stream carries this node's addresses and incarnation. False if it broke.
  bool WriteAll(Work& work) {
    for (auto& [batch, bytes] : work) {
      if (first_) {
        batch.set_from_client_address(options_.client_address);
        batch.set_from_metrics_address(options_.metrics_address);
        batch.set_from_incarnation(options_.incarnation);
      }
      if (!writer_->Write(batch)) return false;
      first_ = false;
      stats_.batches_sent.fetch_add(1, std::memory_order_relaxed);
      stats_.messages_sent.fetch_add(batch.messages_size(), std::memory_order_relaxed);
      stats_.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    }
    return true;
  }

  // The stream broke: drop it (what was queued is dropped after the backoff; Raft resends), say why once.
  void CloseBrokenStream() {
    writer_->WritesDone();
    grpc::Status status = writer_->Finish();
    writer_.reset();
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && status.error_message() != refused_) {
      // The peer refuses to talk to us (another cluster, or this data directory is not the one it knows): say
      // so once per reason; we keep retrying, so the error stays visible in the log's first lines about it.
      refused_ = status.error_message();
      refused_by_any_->store(true, std::memory_order_relaxed);
      LogError("n", options_.self, " node ", id_, " refuses this node: ", refused_);
    }
    {
      std::lock_guard lock(mu_);
      context_ = nullptr;
    }
    context_owned_.reset();
  }

  // Waits `backoff` (doubled for next time, up to 1 s) and drops what was queued meanwhile; false once stopping.
  bool BackOff(std::chrono::milliseconds& backoff) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    if (stopping_) return false;
    queue_.clear();
    queued_bytes_ = 0;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    return true;
  }

  const uint64_t id_;
  const std::string address_;
  const Transport::Options& options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_: the live stream's context, for cancelling on Stop
  std::deque<std::pair<internal::MessageBatch, size_t>> queue_;
  size_t queued_bytes_ = 0;
  // The sender thread's: the stream and its state, and the last refusal logged.
  std::unique_ptr<internal::NodeTransport::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_owned_;
  std::unique_ptr<grpc::ClientWriter<internal::MessageBatch>> writer_;
  internal::StreamAck ack_;
  bool first_ = true;
  std::string refused_;
  std::chrono::milliseconds hello_interval_{100};
  std::atomic<bool>* const refused_by_any_;
};

// The server side: one read reactor per incoming stream, bound to the node its signed header names.
class Transport::Receiver : public internal::NodeTransport::CallbackService {
 public:
  explicit Receiver(Transport* transport) : transport_(transport) {}

  grpc::ServerReadReactor<internal::MessageBatch>* Stream(grpc::CallbackServerContext* context,
                                                          internal::StreamAck* ack) override {
    return new Reader(transport_, ack, transport_->Authenticate(*context));
  }

  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context, const internal::JoinRequest* req,
                                 internal::JoinResponse* resp) override {
    auto* reactor = context->DefaultReactor();
    if (auto s = transport_->AuthenticateJoin(*context, *req); !s.ok()) {
      reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message())));
      return reactor;
    }
    if (!transport_->options_.join) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "this node does not admit nodes yet"));
      return reactor;
    }
    transport_->options_.join(*req, [reactor, resp](grpc::Status s, internal::JoinResponse r) {
      if (s.ok()) *resp = std::move(r);
      reactor->Finish(s);
    });
    return reactor;
  }

 private:
  class Reader : public grpc::ServerReadReactor<internal::MessageBatch> {
   public:
    Reader(Transport* t, internal::StreamAck* ack, absl::StatusOr<uint64_t> from) : transport_(t), ack_(ack) {
      if (!from.ok()) {
        Finish(grpc::Status(static_cast<grpc::StatusCode>(from.status().code()),
                            std::string(from.status().message())));
        return;
      }
      from_ = *from;
      StartRead(&batch_);
    }
    void OnReadDone(bool ok) override {
      if (!ok) {  // the peer closed the stream or the connection broke (when its process died: the first sign)
        if (Peer* peer = checked_ ? transport_->FindPeer(from_) : nullptr) peer->stats_.streams_ended.fetch_add(1);
        return Finish(grpc::Status::OK);
      }
      if (auto s = transport_->Admit(from_, batch_, checked_); !s.ok()) return Finish(s);
      checked_ = true;
      const size_t bytes = batch_.ByteSizeLong();
      ack_->set_received_bytes(ack_->received_bytes() + bytes);
      transport_->Learn(batch_);
      if (Peer* peer = transport_->FindPeer(from_); peer != nullptr) {
        auto& s = peer->stats_;
        s.batches_received.fetch_add(1, std::memory_order_relaxed);
        s.messages_received.fetch_add(batch_.messages_size(), std::memory_order_relaxed);
        s.bytes_received.fetch_add(bytes, std::memory_order_relaxed);
        s.last_heard_ms.store(SteadyMs(), std::memory_order_relaxed);
      }
      if (batch_.messages_size() > 0 || batch_.move_reports_size() > 0 || batch_.leaders_announced() ||
          batch_.liveness_beat()) {
        transport_->deliver_(std::move(batch_));
      }
      batch_.Clear();
      StartRead(&batch_);
    }
    void OnDone() override { delete this; }

   private:
    Transport* transport_;
    internal::StreamAck* ack_;
    internal::MessageBatch batch_;
    uint64_t from_ = 0;     // the member this stream is bound to
    bool checked_ = false;  // the stream's first batch passed CheckIncarnation
  };

  Transport* transport_;
};

absl::StatusOr<uint64_t> Transport::Authenticate(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kPeerAuthHeader);
  const absl::string_view token =
      it == metadata.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
  auto from = VerifyPeerAuth(token, options_.secret, options_.cluster_id, options_.self, UnixMs());
  if (!from.ok()) {
    rejections_.unauthenticated_streams.fetch_add(1, std::memory_order_relaxed);
    LogWarning("n", options_.self, " refusing a node stream from ", context.peer(), ": ", from.status().message());
    return from.status();
  }
  if (auto s = options_.tls.enabled() ? CheckCertifiedNode(*context.auth_context(), *from) : absl::OkStatus();
      !s.ok()) {
    rejections_.unauthenticated_streams.fetch_add(1, std::memory_order_relaxed);
    LogWarning("n", options_.self, " refusing a node stream from ", context.peer(), ": ", s.message());
    return s;
  }
  if (FindPeer(*from) == nullptr) {
    rejections_.non_member_streams.fetch_add(1, std::memory_order_relaxed);
    LogWarning("n", options_.self, " refusing a node stream from node ", *from, " (", context.peer(),
               "): not a member of this cluster");
    return absl::PermissionDeniedError(absl::StrCat("node ", *from, " is not a member of this cluster"));
  }
  return *from;
}

absl::Status Transport::AuthenticateJoin(const grpc::CallbackServerContext& context,
                                         const internal::JoinRequest& req) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kPeerAuthHeader);
  const absl::string_view token =
      it == metadata.end() ? absl::string_view() : absl::string_view(it->second.data(), it->second.size());
  // The cluster id is no secret: a node started with another --cluster_id is told so before the signature (which
  // covers the id, and would only say "not signed").
  absl::StatusOr<uint64_t> from = absl::FailedPreconditionError(
      absl::StrCat("this is cluster '", options_.cluster_id, "', not '", req.cluster_id(), "' (--cluster_id)"));
  if (req.cluster_id() == options_.cluster_id) {
    from = req.incarnation() == 0
               ? absl::UnauthenticatedError("a Join needs an incarnation")
               : VerifyPeerAuth(token, options_.secret, options_.cluster_id, req.incarnation(), UnixMs());
  }
  if (from.ok() && *from != 0) from = absl::UnauthenticatedError("a Join is signed for node 0");
  if (!from.ok()) {
    rejections_.unauthenticated_streams.fetch_add(1, std::memory_order_relaxed);
    LogWarning("n", options_.self, " refusing a Join from ", context.peer(), ": ", from.status().message());
    return from.status();
  }
  return absl::OkStatus();
}

grpc::Status Transport::Admit(uint64_t from, internal::MessageBatch& batch, bool checked) {
  if (batch.cluster_id() != options_.cluster_id || batch.to_node() != options_.self || batch.from_node() != from) {
    rejections_.forged_batches.fetch_add(1, std::memory_order_relaxed);
    LogWarning("n", options_.self, " closing node ", from, "'s stream: a batch claims node ", batch.from_node(),
               " of cluster '", batch.cluster_id(), "' addressed to node ", batch.to_node());
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "wrong cluster id or node id");
  }
  if (!checked) {
    if (auto s = CheckIncarnation(from, batch.from_incarnation()); !s.ok()) {
      LogError("n", options_.self, " refusing node ", from, ": ", s.message());
      return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
    }
  }
  // Every message must come from the stream's node: drop (and count) the others, keep the rest.
  auto* messages = batch.mutable_messages();
  const int before = messages->size();
  for (int i = messages->size() - 1; i >= 0; --i) {
    if (messages->Get(i).message().from() != from) messages->DeleteSubrange(i, 1);
  }
  if (const int forged = before - messages->size(); forged > 0) {
    rejections_.forged_messages.fetch_add(static_cast<uint64_t>(forged), std::memory_order_relaxed);
  }
  return grpc::Status::OK;
}

Transport::Transport(Options options, std::function<void(internal::MessageBatch&&)> deliver)
    : options_(std::move(options)),
      deliver_(std::move(deliver)),
      known_incarnations_(std::move(options_.known_incarnations)) {
  for (const auto& [id, address] : options_.peer_addresses) {
    if (id == options_.self) continue;
    peers_[id] = std::make_unique<Peer>(id, address, options_, &refused_);
    peer_addresses_[id] = address;
  }
  receiver_ = std::make_unique<Receiver>(this);
}

Transport::~Transport() { Stop(); }

void Transport::Start() {
  std::lock_guard lock(peers_mu_);
  started_ = true;
  for (auto& [id, peer] : peers_) {
    if (peer_addresses_.contains(id)) peer->Start();
  }
}

void Transport::Stop() {
  std::lock_guard lock(peers_mu_);
  started_ = false;
  for (auto& [id, peer] : peers_) peer->Stop();
}

Transport::Peer* Transport::FindPeer(uint64_t id) const {
  std::lock_guard lock(peers_mu_);
  if (!peer_addresses_.contains(id)) return nullptr;
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

void Transport::AddPeer(uint64_t id, const std::string& address) {
  if (id == options_.self || id == 0 || address.empty()) return;
  std::lock_guard lock(peers_mu_);
  if (peers_.contains(id)) return;  // a member already, or removed for good
  auto peer = std::make_unique<Peer>(id, address, options_, &refused_);
  if (started_) peer->Start();
  peers_[id] = std::move(peer);
  peer_addresses_[id] = address;
  LogInfo("n", options_.self, " transport: node ", id, " at ", address, " is a member");
}

void Transport::RemovePeer(uint64_t id) {
  Peer* peer = nullptr;
  {
    std::lock_guard lock(peers_mu_);
    if (peer_addresses_.erase(id) == 0) return;
    peer = peers_.at(id).get();
  }
  peer->Stop();  // joins its thread; the object stays (stats() pointers remain valid)
  LogInfo("n", options_.self, " transport: node ", id, " was removed; its stream is closed");
}

std::map<uint64_t, std::string> Transport::peer_addresses() const {
  std::lock_guard lock(peers_mu_);
  auto out = peer_addresses_;
  if (!options_.peer_address.empty()) out[options_.self] = options_.peer_address;
  return out;
}

void Transport::Send(uint64_t to, internal::MessageBatch batch) {
  Peer* peer = FindPeer(to);
  if (peer == nullptr) return;
  batch.set_cluster_id(options_.cluster_id);
  batch.set_from_node(options_.self);
  batch.set_to_node(to);
  peer->Enqueue(std::move(batch));
}

grpc::Service* Transport::service() { return receiver_.get(); }

void Transport::Learn(const internal::MessageBatch& batch) {
  if (batch.from_client_address().empty() && batch.from_metrics_address().empty()) return;
  std::lock_guard lock(learned_mu_);
  if (!batch.from_client_address().empty()) client_addresses_[batch.from_node()] = batch.from_client_address();
  if (!batch.from_metrics_address().empty()) metrics_addresses_[batch.from_node()] = batch.from_metrics_address();
}

absl::Status Transport::CheckIncarnation(uint64_t peer, uint64_t incarnation) {
  if (incarnation == 0) return absl::OkStatus();
  std::lock_guard lock(incarnation_mu_);
  uint64_t& known = known_incarnations_[peer];
  if (known == 0 && options_.recall_incarnation) known = options_.recall_incarnation(peer);
  if (known == incarnation) return absl::OkStatus();
  if (known == 0) {
    if (options_.remember_incarnation) {
      if (auto s = options_.remember_incarnation(peer, incarnation); !s.ok()) {
        return absl::UnavailableError(
            absl::StrCat("cannot remember node ", peer, "'s incarnation: ", s.message()));
      }
    }
    known = incarnation;
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "node ", peer, " came back with another data directory (incarnation ", incarnation, ", this node knows ",
      known,
      "): it lost its data, and a node that forgot its Raft logs and votes could elect a leader that lacks "
      "acknowledged records. Restore its data directory, or start it empty with --join and replace node ",
      peer, " with it (brook cluster replace; docs/operations.md \"Replacing a node\")"));
}

std::map<uint64_t, std::string> Transport::client_addresses() const {
  std::lock_guard lock(learned_mu_);
  auto out = client_addresses_;
  out[options_.self] = options_.client_address;
  return out;
}

std::map<uint64_t, std::string> Transport::metrics_addresses() const {
  std::lock_guard lock(learned_mu_);
  auto out = metrics_addresses_;
  out[options_.self] = options_.metrics_address;
  return out;
}

const PeerStats* Transport::stats(uint64_t peer) const {
  std::lock_guard lock(peers_mu_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second->stats_;
}

bool Transport::reachable(uint64_t peer) const {
  if (peer == options_.self) return true;
  const PeerStats* s = stats(peer);
  if (s == nullptr) return false;
  const int64_t heard = s->last_heard_ms.load(std::memory_order_relaxed);
  return heard != 0 && SteadyMs() - heard <= options_.heard_window.count();
}

}  // namespace brook::server
