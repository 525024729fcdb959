import { defineDriverSuite } from '../../core/test/semantics/suite.js';
import { pglite } from '../support/drivers.js';

defineDriverSuite(pglite);
