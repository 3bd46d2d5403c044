#include "client/cli/bench_records.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace brook::cli {
namespace {

constexpr std::array<const char*, 16> kFirstNames = {"Maria",  "James", "Aiko",   "Lukas", "Sofia", "Omar",
                                                     "Elena",  "Wei",   "Chloe",  "Mateo", "Priya", "Noah",
                                                     "Fatima", "Hugo",  "Ingrid", "Kwame"};
constexpr std::array<const char*, 16> kLastNames = {"Keller",  "Smith",  "Tanaka", "Novak",  "Rossi",  "Haddad",
                                                    "Petrova", "Zhang",  "Martin", "Garcia", "Sharma", "Brown",
                                                    "Khan",    "Dubois", "Larsen", "Mensah"};
struct City {
  const char* name;
  const char* country;
  const char* currency;
};
constexpr std::array<City, 10> kCities = {{{"Berlin", "DE", "EUR"},
                                           {"Paris", "FR", "EUR"},
                                           {"Madrid", "ES", "EUR"},
                                           {"London", "GB", "GBP"},
                                           {"Toronto", "CA", "CAD"},
                                           {"Austin", "US", "USD"},
                                           {"Osaka", "JP", "JPY"},
                                           {"Oslo", "NO", "NOK"},
                                           {"Accra", "GH", "GHS"},
                                           {"Pune", "IN", "INR"}}};
struct Product {
  const char* name;
  const char* category;
};
constexpr std::array<Product, 12> kProducts = {{{"Wireless Mouse", "electronics"},
                                                {"USB-C Cable 2m", "electronics"},
                                                {"Espresso Beans 1kg", "grocery"},
                                                {"Running Shoes", "sports"},
                                                {"Yoga Mat", "sports"},
                                                {"Desk Lamp", "home"},
                                                {"Cotton T-Shirt", "apparel"},
                                                {"Rain Jacket", "apparel"},
                                                {"Notebook A5", "office"},
                                                {"Water Bottle", "sports"},
                                                {"Bluetooth Speaker", "electronics"},
                                                {"Ceramic Mug", "home"}}};
constexpr std::array<const char*, 6> kEventTypes = {"order.created", "order.paid",     "order.shipped",
                                                    "order.updated", "order.refunded", "order.cancelled"};
constexpr std::array<const char*, 4> kServices = {"checkout-service", "payment-service", "fulfillment-service",
                                                  "order-api"};
constexpr std::array<const char*, 4> kTiers = {"bronze", "silver", "gold", "platinum"};
constexpr std::array<const char*, 4> kPayments = {"card", "paypal", "bank_transfer", "apple_pay"};
constexpr std::array<const char*, 3> kBrowsers = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148"};
constexpr std::array<const char*, 24> kWords = {"please", "leave",     "the",    "parcel",   "at",      "front",
                                                "door",   "call",      "before", "delivery", "gift",    "wrap",
                                                "thanks", "second",    "floor",  "ring",     "bell",    "twice",
                                                "office", "reception", "urgent", "fragile",  "weekend", "back"};

template <typename T, size_t N>
const T& Pick(std::mt19937_64& rng, const std::array<T, N>& from) {
  return from[rng() % N];
}

std::string Hex(std::mt19937_64& rng, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(kDigits[rng() % 16]);
  return out;
}

std::string Money(std::mt19937_64& rng, int max_cents) {
  const int cents = 100 + static_cast<int>(rng() % static_cast<uint64_t>(max_cents));
  return absl::StrFormat("%d.%02d", cents / 100, cents % 100);
}

// The event up to its order items; the caller adds items and closes it.
std::string EventHead(std::mt19937_64& rng) {
  const City& city = Pick(rng, kCities);
  const std::string first = Pick(rng, kFirstNames), last = Pick(rng, kLastNames);
  const uint64_t ms = 1'710'000'000'000 + rng() % 10'000'000'000;
  const uint64_t day_ms = ms % 86'400'000;
  return absl::StrFormat(
      R"({"event_id":"%s-%s-4%s-a%s-%s","event_type":"%s","occurred_at":"2024-%02d-%02dT%02d:%02d:%02d.%03dZ",)"
      R"("source":"%s","schema_version":3,"customer":{"id":"cus_%07d","first_name":"%s","last_name":"%s",)"
      R"("email":"%s.%s@example.com","country":"%s","city":"%s","loyalty_tier":"%s","marketing_opt_in":%s},)"
      R"("payment":{"method":"%s","status":"authorized","currency":"%s"},)"
      R"("session":{"id":"%s","ip":"203.0.113.%d","user_agent":"%s"},)"
      R"("order":{"id":"ord_%09d","channel":"%s","items":[)",
      Hex(rng, 8), Hex(rng, 4), Hex(rng, 3), Hex(rng, 3), Hex(rng, 12), Pick(rng, kEventTypes), 1 + rng() % 12,
      1 + rng() % 28, day_ms / 3'600'000, day_ms / 60'000 % 60, day_ms / 1000 % 60, day_ms % 1000,
      Pick(rng, kServices), rng() % 10'000'000, first, last, absl::AsciiStrToLower(first),
      absl::AsciiStrToLower(last), city.country, city.name, Pick(rng, kTiers), rng() % 2 ? "true" : "false",
      Pick(rng, kPayments), city.currency, Hex(rng, 16), 1 + rng() % 254, Pick(rng, kBrowsers),
      rng() % 1'000'000'000, rng() % 3 ? "web" : "mobile");
}

std::string Item(std::mt19937_64& rng) {
  const Product& p = Pick(rng, kProducts);
  return absl::StrFormat(R"({"sku":"SKU-%05d","name":"%s","category":"%s","quantity":%d,"unit_price":%s})",
                         rng() % 100'000, p.name, p.category, 1 + rng() % 5, Money(rng, 20'000));
}

}  // namespace

absl::StatusOr<RecordKind> ParseRecordKind(std::string_view name) {
  if (name == "random") return RecordKind::kRandom;
  if (name == "json") return RecordKind::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown record kind '", std::string(name), "'; use random or json"));
}

std::string JsonEvent(std::mt19937_64& rng, size_t size) {
  std::string out = EventHead(rng);
  const std::string totals = absl::StrCat(R"(],"total":)", Money(rng, 200'000), R"(},"note":")");
  // Items while a whole one and the note's frame still fit, then the note fills the rest with words.
  for (int n = 0;; ++n) {
    std::string item = (n > 0 ? "," : "") + Item(rng);
    if (n > 0 && out.size() + item.size() + totals.size() + 2 > size) break;
    out += item;
    if (n >= 20) break;
  }
  out += totals;
  std::string note;
  while (out.size() + note.size() + 2 < size) absl::StrAppend(&note, note.empty() ? "" : " ", Pick(rng, kWords));
  out += note;
  if (out.size() + 2 > size) out.resize(size >= 2 ? size - 2 : 0);
  out += "\"}";
  out.resize(size, ' ');
  return out;
}

std::vector<std::string> MakeBenchValues(RecordKind kind, size_t size, size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> values;
  values.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (kind == RecordKind::kJson) {
      values.push_back(JsonEvent(rng, size));
      continue;
    }
    std::string v(size, '\0');
    for (size_t b = 0; b < size; b += 8) {
      const uint64_t r = rng();
      for (size_t k = 0; k < 8 && b + k < size; ++k) v[b + k] = static_cast<char>(r >> (8 * k));
    }
    values.push_back(std::move(v));
  }
  return values;
}

}  // namespace brook::cli
