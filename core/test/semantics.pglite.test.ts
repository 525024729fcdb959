import { defineSemanticsSuite } from './semantics/suite.js';
import { createPgliteDatabase } from './support/databases.js';

defineSemanticsSuite('PGlite', createPgliteDatabase);
