// Metrics of access control (server/api/access.h): refused calls, quota throttles, token file reload failures.
#include "server/metrics/metrics.h"

namespace brook::server {

void Metrics::RefreshAccess(const AccessControl& access) {
  const AccessCounters& c = access.counters();
  for (const auto& [reason, value] :
       {std::pair<const char*, uint64_t>{"unauthenticated", c.unauthenticated.load()},
        {"denied", c.denied.load()}}) {
    SetTotal(CounterOf("brook_access_refused_total",
                       "Client calls refused: unauthenticated (no valid token or certificate) or denied (no ACL "
                       "rule allows it)",
                       {{"reason", reason}}),
             static_cast<double>(value));
  }
  for (const auto& [kind, value] : {std::pair<const char*, uint64_t>{"produce", c.throttled_produce.load()},
                                    {"fetch", c.throttled_fetch.load()}}) {
    SetTotal(CounterOf("brook_quota_throttled_total",
                       "Calls answered RESOURCE_EXHAUSTED because their principal was over its byte-rate quota",
                       {{"kind", kind}}),
             static_cast<double>(value));
  }
  SetTotal(CounterOf("brook_auth_tokens_reload_failures_total",
                     "Changes of --auth_tokens_file that did not parse (the last good file stays in use)", {}),
           static_cast<double>(access.token_reload_failures()));
}

}  // namespace brook::server
