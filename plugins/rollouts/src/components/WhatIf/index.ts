export { WhatIfSection, outcomeText, EXAMPLE_POLICY } from './WhatIfSection';
