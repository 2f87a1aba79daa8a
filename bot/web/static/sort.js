// Sortable tables: click a header with data-sort="number" or "text" to sort its table by that
// column; click again to reverse. Cells may carry the value to sort by in data-value.
"use strict";

function cellValue(row, index, numeric) {
  const cell = row.cells[index];
  const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
  if (!numeric) return raw.toLowerCase();
  const number = parseFloat(raw);
  return Number.isNaN(number) ? -Infinity : number;
}

function sortBy(header) {
  const table = header.closest("table");
  const body = table.tBodies[0];
  const index = Array.prototype.indexOf.call(header.parentNode.children, header);
  const numeric = header.dataset.sort === "number";
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  const rows = Array.from(body.rows);
  rows.sort((first, second) => {
    const a = cellValue(first, index, numeric);
    const b = cellValue(second, index, numeric);
    const order = a < b ? -1 : a > b ? 1 : 0;
    return ascending ? order : -order;
  });
  for (const other of header.parentNode.children) other.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  body.append(...rows);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const header of document.querySelectorAll("table.sortable th[data-sort]")) {
    header.tabIndex = 0;
    header.addEventListener("click", () => sortBy(header));
    header.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sortBy(header);
      }
    });
  }
});
