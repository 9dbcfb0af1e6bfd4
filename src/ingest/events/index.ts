export type { EventCursor } from "./cursor.ts";
export type { EventsDeps } from "./deps.ts";
export { type EventDetail, getEvent } from "./get.ts";
export { type EventPage, type ListEventsInput, listEvents, MAX_EVENTS_PAGE } from "./list.ts";
export { EVENT_STATUSES, type EventFacts, type EventStatus, type EventView } from "./view.ts";
