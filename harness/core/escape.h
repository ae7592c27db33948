// One escaping rule per output format, shared by every table writer (report/table,
// report/paper_tables, the store's CSV export, the HTML report). Torch-free.
#pragma once

#include <string>

namespace swavbench {

// RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled.
std::string csv_field(const std::string& field);

// LaTeX text mode: \ ~ ^ become \textbackslash{} \textasciitilde{} \textasciicircum{};
// & % $ # _ { } get a backslash; the UTF-8 symbols our cells use (± — – × →) become their LaTeX
// commands, so a table compiles without a UTF-8 input encoding.
std::string latex_escape(const std::string& text);

// HTML text and attribute values: & < > " '.
std::string html_escape(const std::string& text);

// A Markdown table cell: | is escaped (it would end the cell), a line break becomes a space.
std::string markdown_cell(const std::string& text);

}  // namespace swavbench
