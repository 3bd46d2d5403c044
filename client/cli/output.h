// Output for `brook`: aligned text tables for people, JSON for scripts. Pure.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brook::cli {

// A JSON string literal (with quotes) for arbitrary bytes: control characters and quotes are escaped, valid
// UTF-8 passes through, and each byte of invalid UTF-8 becomes \u00XX.
std::string JsonString(std::string_view s);

// Builds one JSON document; commas are placed automatically.
class JsonWriter {
 public:
  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view v) { return Raw(JsonString(v)); }
  JsonWriter& Int(int64_t v) { return Raw(std::to_string(v)); }
  JsonWriter& Uint(uint64_t v) { return Raw(std::to_string(v)); }
  JsonWriter& Bool(bool v) { return Raw(v ? "true" : "false"); }
  JsonWriter& Double(double v);
  const std::string& str() const { return out_; }

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  JsonWriter& Raw(std::string_view text);
  void Separate();

  std::string out_;
  std::vector<bool> has_items_;  // per open container
  bool after_key_ = false;
};

// A text table with a header row; columns are padded to their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Bytes for a terminal: printable ASCII and valid UTF-8 as is, other bytes as \xHH, tabs and newlines escaped.
std::string Printable(std::string_view s);

// A record's headers for a terminal: "k1=v1,k2=v2" in order, each key and value Printable ("" without headers).
// For people only: a ',' or '=' inside a key or value is not escaped (scripts read --output=json).
std::string PrintableHeaders(const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace brook::cli
