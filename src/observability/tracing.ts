/**
 * OpenTelemetry traces through @effect/opentelemetry, exported over OTLP/HTTP
 * when the standard variables ask for it: OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_SERVICE_NAME (default
 * "parrhesia"), OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (a ratio alone:
 * that share of messages is traced, decided at each message).
 *
 * Unset, nothing is traced and the hot path does not build spans at all: the
 * helpers here return the effect they are given unchanged.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { resourceFromAttributes } from "@opentelemetry/resources"
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler
} from "@opentelemetry/sdk-trace-base"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { Context, Effect, Exit, Layer, Option, References, Tracer } from "effect"
import { VERSION } from "../version.ts"

let enabled = false
/** The share of messages traced, decided at each message's root span (OTEL_TRACES_SAMPLER_ARG). */
let rootRatio = 1

/** Whether spans are being recorded in this process. */
export const tracingEnabled = (): boolean => enabled

/** Wall-clock time in nanoseconds, as spans take it. */
export const nowNanos = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))

const NO_STACK = { captureStackTrace: false } as const

/** `self` in a child span named `name` (unchanged when tracing is off). */
export const span = (name: string, attributes?: Record<string, unknown>): (<A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) =>
  // Off: one shared identity, no closure per call on the hot path.
  !enabled
    ? untraced
    : // No stack trace per span: capturing one costs more than the span itself on the hot path.
      (self) => Effect.withSpan(self, name, attributes === undefined ? NO_STACK : { attributes, captureStackTrace: false })

const untraced = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => self

/** Sets an attribute on the current span (nothing when tracing is off). */
export const annotate = (key: string, value: unknown): Effect.Effect<void> => (enabled ? Effect.annotateCurrentSpan(key, value) : Effect.void)

/**
 * A server span for one client message, from the moment its frame arrived,
 * with the frame's decoding as its first child; `self` runs inside it.
 */
export const messageSpan =
  (name: string, receivedAt: bigint, decodedAt: bigint, attributes: Record<string, unknown>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    !enabled
      ? self
      : rootRatio < 1 && Math.random() >= rootRatio
        ? // Not sampled: no span at all for this message, its steps, or its store batch link.
          Effect.withTracerEnabled(self, false)
        : Effect.flatMap(Effect.zip(Effect.tracer, References.TracerEnabled), ([tracer, on]) => {
          // A fiber with tracing turned off (the relay's own warm-up) makes no span here either.
          if (!on) return self
          const parent = tracer.span({ name, parent: Option.none(), annotations: Context.empty(), links: [], startTime: receivedAt, kind: "server", root: true, sampled: true })
          for (const [k, v] of Object.entries(attributes)) parent.attribute(k, v)
          tracer
            .span({ name: "decode", parent: Option.some(parent), annotations: Context.empty(), links: [], startTime: receivedAt, kind: "internal", root: false, sampled: parent.sampled })
            .end(decodedAt, Exit.void)
          return self.pipe(
            Effect.withParentSpan(parent),
            Effect.onExit((exit) => Effect.sync(() => parent.end(nowNanos(), exit)))
          )
        })

/**
 * Sampling: with OTEL_TRACES_SAMPLER set, the SDK samples as that variable
 * says. Otherwise OTEL_TRACES_SAMPLER_ARG (a ratio) is applied by the relay at
 * each message's root, where a message not sampled builds no spans at all
 * (cheaper than spans the SDK then drops), and the SDK records every span made.
 */
const samplingFromEnv = (env: Readonly<Record<string, string | undefined>>): { readonly sdk: Sampler | undefined; readonly root: number } => {
  const name = env["OTEL_TRACES_SAMPLER"]
  const arg = env["OTEL_TRACES_SAMPLER_ARG"]
  if (name !== undefined && name !== "") return { sdk: undefined, root: 1 }
  const always = new ParentBasedSampler({ root: new AlwaysOnSampler() })
  if (arg === undefined || arg === "") return { sdk: always, root: 1 }
  const ratio = Number(arg)
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got ${JSON.stringify(arg)}`)
  return { sdk: always, root: ratio }
}

/** The Effect tracer backed by OpenTelemetry, exporting over OTLP/HTTP; no layer at all without an endpoint. */
export const tracingLayerFromEnv = (env: Readonly<Record<string, string | undefined>>): Layer.Layer<never> => {
  const endpoint = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_ENDPOINT"]
  if (endpoint === undefined || endpoint === "") return Layer.empty
  const provider = Layer.effect(
    OtelTracer.OtelTracerProvider,
    Effect.acquireRelease(
      Effect.sync(() => {
        const sampling = samplingFromEnv(env)
        const sampler = sampling.sdk
        rootRatio = sampling.root
        const p = new BasicTracerProvider({
          resource: resourceFromAttributes({ "service.name": env["OTEL_SERVICE_NAME"] || "parrhesia", "service.version": VERSION }),
          ...(sampler === undefined ? {} : { sampler }),
          // The exporter reads the OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself.
          spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 })]
        })
        enabled = true
        return p
      }),
      // Flushes what is batched on shutdown.
      (p) =>
        Effect.promise(() => p.shutdown()).pipe(
          Effect.andThen(Effect.sync(() => void (enabled = false))),
          Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.void })
        )
    )
  )
  // The Effect tracer backed by the OpenTelemetry one, without its `context` hook: that hook
  // re-enters OpenTelemetry's context (a Map copy) around every Effect step inside a span, for
  // OpenTelemetry-instrumented libraries, of which the relay uses none; it halved ingest.
  const effectTracer = Layer.effect(
    Tracer.Tracer,
    Effect.map(OtelTracer.make, (otel) => Tracer.make({ span: (options) => otel.span(options) }))
  )
  return effectTracer.pipe(Layer.provide(OtelTracer.layerTracer), Layer.provide(provider)) as unknown as Layer.Layer<never>
}
