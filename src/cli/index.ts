/**
 * The `ambit` command tree. Each area registers its own subcommands; this file
 * only assembles them, so adding a command never touches another area's code.
 */
import type { Command } from 'commander';
import { registerApply } from './apply.js';
import { registerCa } from './ca.js';
import { registerControlPlane } from './controlplane.js';
import { registerDown } from './down.js';
import { registerExec } from './exec.js';
import { registerGet } from './get.js';
import { registerLabel } from './label.js';
import { registerLogs } from './logs.js';
import { registerMigrate } from './migrate.js';
import { buildProgram as buildWith, type CommandRegistrar } from './program.js';
import { registerUp } from './up.js';
import { registerWaypoint } from './waypoint.js';
import { registerWaypointManage } from './waypoint-manage.js';
import { registerZtunnel } from './ztunnel.js';

export type { CommandRegistrar } from './program.js';

// One registrar per area, in the order they appear in `ambit --help`.
const registrars: CommandRegistrar[] = [
  registerUp,
  registerDown,
  registerGet,
  registerExec,
  registerLogs,
  registerLabel,
  registerApply,
  registerControlPlane,
  registerWaypoint,
  registerWaypointManage,
  registerZtunnel,
  registerCa,
  registerMigrate,
];

/** The full command tree. */
export function buildProgram(): Command {
  return buildWith(registrars);
}
