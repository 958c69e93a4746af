// The module's abort handler: AssemblyScript calls it on a failed
// assertion, an out-of-bounds access or an allocation failure. It logs the
// message through the host and traps; the host answers 500 and discards
// the instance. Select it with --use abort=<this file without .ts>/osoAbort
// (the Makefile does), so the module imports nothing from "env".
import * as host from "./host";

export function osoAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let m = "abort";
  if (message !== null) m += ": " + message;
  if (fileName !== null) m += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const b = String.UTF8.encode(m);
  host.log(3, changetype<usize>(b), min(b.byteLength, 4096));
  unreachable();
}
