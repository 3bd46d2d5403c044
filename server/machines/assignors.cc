#include "server/machines/assignors.h"

#include <algorithm>

namespace brook::server {
namespace {

bool Reads(const AssignorMember& m, const std::string& topic) {
  return std::binary_search(m.topics.begin(), m.topics.end(), topic);
}

std::vector<const AssignorMember*> InKeyOrder(const std::vector<AssignorMember>& members) {
  std::vector<const AssignorMember*> out;
  for (const auto& m : members) out.push_back(&m);
  std::sort(out.begin(), out.end(), [](const AssignorMember* a, const AssignorMember* b) {
    return std::tie(a->key, a->member_id) < std::tie(b->key, b->member_id);
  });
  return out;
}

}  // namespace

Assignment AssignRange(const std::vector<AssignorMember>& members, const std::map<std::string, uint32_t>& counts) {
  Assignment out;
  const auto ordered = InKeyOrder(members);
  for (const auto* m : ordered) out[m->member_id];
  for (const auto& [topic, count] : counts) {
    std::vector<const AssignorMember*> readers;
    for (const auto* m : ordered) {
      if (Reads(*m, topic)) readers.push_back(m);
    }
    if (readers.empty()) continue;
    const uint32_t each = count / readers.size();
    const uint32_t extra = count % readers.size();
    uint32_t next = 0;
    for (size_t i = 0; i < readers.size(); ++i) {
      const uint32_t n = each + (i < extra ? 1 : 0);
      for (uint32_t k = 0; k < n; ++k) out[readers[i]->member_id].insert({topic, next++});
    }
  }
  return out;
}

Assignment AssignUniform(const std::vector<AssignorMember>& members,
                         const std::map<std::string, uint32_t>& counts) {
  Assignment out;
  const auto ordered = InKeyOrder(members);
  std::map<std::string, const AssignorMember*> by_id;
  for (const auto* m : ordered) {
    out[m->member_id];
    by_id[m->member_id] = m;
  }
  auto valid = [&](const AssignorMember& m, const TopicPartition& tp) {
    auto c = counts.find(tp.topic);
    return c != counts.end() && tp.partition < c->second && Reads(m, tp.topic);
  };
  // 1. Keep what each member had, unless another member kept it first (key order decides).
  PartitionSet taken;
  for (const auto* m : ordered) {
    for (const auto& tp : m->previous) {
      if (valid(*m, tp) && taken.insert(tp).second) out[m->member_id].insert(tp);
    }
  }
  // 2. The rest, each to the least loaded member that reads its topic (ties: key order).
  auto least_loaded = [&](const TopicPartition& tp) -> const AssignorMember* {
    const AssignorMember* best = nullptr;
    for (const auto* m : ordered) {
      if (!Reads(*m, tp.topic)) continue;
      if (best == nullptr || out[m->member_id].size() < out[best->member_id].size()) best = m;
    }
    return best;
  };
  for (const auto& [topic, count] : counts) {
    for (uint32_t p = 0; p < count; ++p) {
      TopicPartition tp{topic, p};
      if (taken.contains(tp)) continue;
      if (const auto* m = least_loaded(tp); m != nullptr) {
        out[m->member_id].insert(tp);
        taken.insert(tp);
      }
    }
  }
  // 3. Narrow the gaps: move one partition at a time from the most loaded member to the least loaded one that
  // reads its topic and has at least two fewer. Each move lowers the sum of squared loads, so this ends; the
  // bound is a backstop.
  const size_t total = taken.size();
  std::vector<const AssignorMember*> by_load = ordered;
  for (size_t round = 0; round < total * 2 + 1; ++round) {
    std::stable_sort(by_load.begin(), by_load.end(), [&](const AssignorMember* a, const AssignorMember* b) {
      return out[a->member_id].size() < out[b->member_id].size();
    });
    bool moved = false;
    for (auto from = by_load.rbegin(); from != by_load.rend() && !moved; ++from) {
      auto& f = out[(*from)->member_id];
      for (auto to = by_load.begin(); to != by_load.end() && !moved; ++to) {
        auto& t = out[(*to)->member_id];
        if (f.size() < t.size() + 2) break;  // the members after `to` are loaded no less
        for (auto it = f.rbegin(); it != f.rend(); ++it) {
          if (!Reads(**to, it->topic)) continue;
          t.insert(*it);
          f.erase(std::next(it).base());
          moved = true;
          break;
        }
      }
    }
    if (!moved) break;
  }
  return out;
}

}  // namespace brook::server
