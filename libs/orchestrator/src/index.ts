export * from './coordinator';
export * from './node';
export * from './service';
export * from './server';
