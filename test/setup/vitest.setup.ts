import '@testing-library/jest-dom/vitest';
import { vi } from 'vitest';

// Backstage's test utilities (mockServices.*.mock(), mockApis, catalog mocks)
// call a global `jest`; vitest's `vi` offers the same API.
(globalThis as any).jest = vi;
