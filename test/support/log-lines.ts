// Checks structured log lines for duplicate keys. JSON.parse keeps the last of two equal keys silently, and
// pino writes a child logger's bindings after its parent's, so `{"component":"kube","component":"gc"}` parses
// fine and misleads every log query: the keys are scanned from the text instead.

/** The keys that occur more than once in one object of a JSON text (any depth), e.g. ["component"]. */
export function duplicateKeys(json: string): string[] {
  const stack: { keys: Set<string>; array: boolean }[] = [];
  const dups: string[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === "{" || c === "[") stack.push({ keys: new Set(), array: c === "[" });
    else if (c === "}" || c === "]") stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
      const token = JSON.parse(json.slice(i, j + 1)) as string;
      let k = j + 1;
      while (json[k] === " ") k++;
      const top = stack[stack.length - 1];
      if (json[k] === ":" && top && !top.array) {
        if (top.keys.has(token)) dups.push(token);
        top.keys.add(token);
      }
      i = j;
    }
  }
  return dups;
}
