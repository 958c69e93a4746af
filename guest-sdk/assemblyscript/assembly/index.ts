// AssemblyScript guest SDK for osohost plugins: the native OSO plugin ABI
// v1.2 (abi/SPEC.md; guide in docs/guest-assemblyscript.md).
//
//     import * as oso from "<path>/guest-sdk/assemblyscript/assembly/index";
//     export * from "<path>/guest-sdk/assemblyscript/assembly/exports";
//
//     class Hello extends oso.Plugin {
//       status(out: oso.ComponentStatus): oso.Failure | null { return null; }
//       toOSO(out: oso.DocumentList): oso.Failure | null { return null; }
//       toISV(input: oso.Documents, out: oso.Reply): oso.Failure | null {
//         out.setJSON('{"received":' + input.length.toString() + "}");
//         return null;
//       }
//     }
//     oso.register(new Hello(), true);
//
// Nothing throws: failures are values (Failure, negative statuses).
export * from "./core";
export * from "./services";
import { writeLog } from "./core";
import "./abort"; // the abort handler asconfig.json selects

/** Log lines through the host, which adds the plugin's name and bounds
 * their size and rate. Never log secrets. */
export namespace log {
  export function debug(msg: string): void { writeLog(0, msg); }
  export function info(msg: string): void { writeLog(1, msg); }
  export function warn(msg: string): void { writeLog(2, msg); }
  export function error(msg: string): void { writeLog(3, msg); }
}
