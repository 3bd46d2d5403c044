#include "server/metrics/api_interceptor.h"

#include <chrono>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message_lite.h"
#include "server/metrics/metrics.h"

namespace brook::server {
namespace {

class ApiInterceptor final : public grpc::experimental::Interceptor {
 public:
  ApiInterceptor(Metrics* metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics), method_(ShortName(info->method())), start_(std::chrono::steady_clock::now()) {
    metrics_->inflight_requests().Increment();
  }
  ~ApiInterceptor() override { metrics_->inflight_requests().Decrement(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (auto* m = static_cast<google::protobuf::MessageLite*>(methods->GetRecvMessage())) {
        request_bytes_ += m->ByteSizeLong();
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (auto* m = static_cast<const google::protobuf::MessageLite*>(methods->GetSendMessage())) {
        response_bytes_ += m->ByteSizeLong();
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->ObserveCall(method_, static_cast<int>(status.error_code()), seconds, request_bytes_,
                            response_bytes_);
    }
    methods->Proceed();
  }

 private:
  // The method's name ("Produce") when it is a method of the brook.v1 services, else "unknown": a client calling
  // made-up methods must not create a series per name.
  static std::string ShortName(const char* full) {
    std::string s = full == nullptr ? "" : full;
    auto slash = s.rfind('/');
    if (slash == std::string::npos || s.size() < 2) return "unknown";
    std::string qualified = s.substr(1, slash - 1) + "." + s.substr(slash + 1);  // brook.v1.Log.Produce
    if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(qualified) == nullptr)
      return "unknown";
    return s.substr(slash + 1);
  }

  Metrics* metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  size_t request_bytes_ = 0;
  size_t response_bytes_ = 0;
};

class ApiInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ApiInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    std::string method = info->method() == nullptr ? "" : info->method();
    if (!method.starts_with("/brook.v1.")) return nullptr;  // health checks and reflection are not the API
    return new ApiInterceptor(metrics_, info);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeApiInterceptorFactory(
    Metrics* metrics) {
  return std::make_unique<ApiInterceptorFactory>(metrics);
}

}  // namespace brook::server
