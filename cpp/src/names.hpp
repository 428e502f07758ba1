// Private: the words that name an enum's values, for parsing and printing them in one way.
#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace flatcore {

// The names of an enum's N values, in order, and what the value is called in messages.
template <class E, std::size_t N>
struct EnumNames {
  const char* what;  // e.g. "part"
  std::array<std::pair<E, const char*>, N> entries;

  const char* name(E value) const {
    for (const auto& [e, word] : entries)
      if (e == value) return word;
    return "?";
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : entries) out.emplace_back(entry.second);
    return out;
  }

  // The value named `word`; std::invalid_argument "<what> must be 'a', 'b' or 'c'; got 'x'" else.
  E parse(const std::string& word) const {
    for (const auto& [e, w] : entries)
      if (word == w) return e;
    std::string list;
    for (std::size_t i = 0; i < N; ++i)
      list += (i == 0 ? "'" : (i + 1 == N ? " or '" : ", '")) + std::string(entries[i].second) + "'";
    throw std::invalid_argument(std::string(what) + " must be " + list + "; got '" + word + "'");
  }
};

}  // namespace flatcore
