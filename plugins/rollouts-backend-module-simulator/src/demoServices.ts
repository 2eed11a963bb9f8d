import type { SimulatedService } from './Simulation';

/**
 * The demo company's services (they match the demo catalog): checkout,
 * payments and search systems. `checkout-api`'s first release regresses
 * (error rate ×4), `search-indexer` loses canary telemetry, the rest are
 * healthy; later releases draw their behaviour from the seed.
 */
export const DEMO_SERVICES: SimulatedService[] = [
  { target: 'checkout/checkout-api', entityRef: 'component:default/checkout-api', rps: 400, errorRate: 0.002, latencyMedianMs: 80, conversionRate: 0.032, orderValueMean: 64, orderValueSd: 30, firstScenario: 'error-regression' },
  { target: 'checkout/cart-service', entityRef: 'component:default/cart-service', rps: 650, errorRate: 0.002, latencyMedianMs: 40, conversionRate: 0.03, orderValueMean: 58, orderValueSd: 25, firstScenario: 'healthy' },
  { target: 'checkout/pricing-service', entityRef: 'component:default/pricing-service', rps: 900, errorRate: 0.001, latencyMedianMs: 25, conversionRate: 0.03, orderValueMean: 61, orderValueSd: 28, firstRolloutDelaySeconds: 300 },
  { target: 'payments/payments-gateway', entityRef: 'component:default/payments-gateway', rps: 300, errorRate: 0.002, latencyMedianMs: 85, conversionRate: 0.035, orderValueMean: 70, orderValueSd: 35, firstScenario: 'healthy' },
  { target: 'payments/fraud-scoring', entityRef: 'component:default/fraud-scoring', rps: 300, errorRate: 0.002, latencyMedianMs: 60, conversionRate: 0.035, orderValueMean: 70, orderValueSd: 35, firstRolloutDelaySeconds: 600 },
  { target: 'payments/ledger-service', entityRef: 'component:default/ledger-service', rps: 200, errorRate: 0.001, latencyMedianMs: 35, conversionRate: 0.035, orderValueMean: 70, orderValueSd: 35, firstRolloutDelaySeconds: -1 },
  { target: 'search/search-api', entityRef: 'component:default/search-api', rps: 1200, errorRate: 0.002, latencyMedianMs: 70, conversionRate: 0.02, orderValueMean: 45, orderValueSd: 20, firstScenario: 'healthy' },
  { target: 'search/search-indexer', entityRef: 'component:default/search-indexer', rps: 150, errorRate: 0.002, latencyMedianMs: 95, conversionRate: 0.02, orderValueMean: 45, orderValueSd: 20, firstScenario: 'telemetry-gap' },
  { target: 'search/recommendations', entityRef: 'component:default/recommendations', rps: 800, errorRate: 0.002, latencyMedianMs: 55, conversionRate: 0.025, orderValueMean: 52, orderValueSd: 22, firstRolloutDelaySeconds: 900 },
];
