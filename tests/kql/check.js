// Parse KQL with Microsoft's Kusto language service (npm @kusto/language-service-next, the parser of Azure
// Data Explorer's editor) against a table declared from a columns file, and print what it found as JSON.
//
//   node tests/kql/check.js TABLE COLUMNS.json < queries.json
//
// stdin: {"name": "query text", ...}. stdout: {"name": {"diagnostics": [{severity, code, message, start}],
// "referenced": [column names the query refers to], "declared": [names the query itself declares]}}.
// The schema is declared as Kusto.Language does in C#: new TableSymbol(name, "(Col:type, ...)") inside a
// DatabaseSymbol, set as the GlobalState's database, then KustoCode.ParseAndAnalyze(text, globals).
"use strict";
const fs = require("fs");
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next/Kusto.Language.Bridge.js");

const [table, columnsPath] = process.argv.slice(2);
const columns = JSON.parse(fs.readFileSync(columnsPath, "utf8"));
const schema = "(" + columns.map((c) => `['${c.name}']:${c.type}`).join(", ") + ")";
const Symbols = Kusto.Language.Symbols;
const tableSymbol = new Symbols.TableSymbol.$ctor7(table, schema, null);
const database = new Symbols.DatabaseSymbol.$ctor2("workspace", null, [tableSymbol]);
const globals = Kusto.Language.GlobalState.Default.WithDatabase(database);

const queries = JSON.parse(fs.readFileSync(0, "utf8"));
const results = {};
for (const [name, text] of Object.entries(queries)) {
  const code = Kusto.Language.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = Bridge.toArray(code.GetDiagnostics()).map((d) => ({
    severity: d.Severity,
    code: d.Code,
    message: d.Message,
    start: d.Start,
  }));
  const referenced = new Set();
  const declared = new Set();
  Kusto.Language.Syntax.SyntaxElement.WalkNodes(code.Syntax, (node) => {
    if (node instanceof Kusto.Language.Syntax.NameReference) {
      const symbol = node.ReferencedSymbol;
      if (symbol instanceof Symbols.ColumnSymbol) referenced.add(symbol.Name);
    } else if (node instanceof Kusto.Language.Syntax.NameDeclaration) {
      declared.add(node.SimpleName);
    }
  });
  results[name] = { diagnostics, referenced: [...referenced].sort(), declared: [...declared].sort() };
}
process.stdout.write(JSON.stringify(results));
