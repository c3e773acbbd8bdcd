/**
 * The hot window: the most recent stored events in memory, answering a filter when its answer
 * provably lies inside the window. Its pieces are in ./hotWindow/ (the design: ./hotWindow/window.ts);
 * ./withHotWindow.ts puts it in front of an event store.
 */
export { Entry, entryBytes } from "./hotWindow/entry.ts"
export type { Plan } from "./hotWindow/plan.ts"
export { makeHotWindow, type HotWindow, type HotWindowOptions, type HotWindowStats, type Origin } from "./hotWindow/window.ts"
